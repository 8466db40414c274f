"""Leave-one-speaker-out: each held-out-speaker fold and the mean ± sd per recipe.

A fold is a cell whose dataset options name exactly one held-out speaker (``test_speakers``, as
``folds = [...]`` in a suite makes them); its recipe is the experiment's name without the
``-SPEAKER`` suffix (``augment-george`` -> ``augment``). Reads results only.
"""

from __future__ import annotations

import pandas as pd

from reports.page import Context, Section, Table, Text
from results.record import CellResult

METRIC = "accuracy"


def fold_frame(results: list[CellResult], metric: str = METRIC) -> pd.DataFrame:
    """One row per finished fold cell: recipe, preset, depth, kind, seed, speaker, ``metric``."""
    rows = []
    for r in results:
        speakers = tuple(r.cell.dataset_options.get("test_speakers") or ())
        if r.status != "ok" or len(speakers) != 1 or metric not in r.metrics:
            continue
        speaker = speakers[0]
        name = r.cell.experiment
        recipe = name[: -len(speaker) - 1] if name.endswith(f"-{speaker}") else name
        rows.append(
            {
                "recipe": recipe,
                "preset": r.cell.preset,
                "depth": r.cell.depth,
                "kind": r.cell.kind,
                "seed": r.cell.seed,
                "speaker": speaker,
                metric: r.metrics[metric].value,
            }
        )
    columns = ["recipe", "preset", "depth", "kind", "seed", "speaker", metric]
    return pd.DataFrame(rows, columns=columns)


def fold_table(frame: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per (recipe, preset, depth, kind): each speaker's ``metric`` (mean over seeds), then the
    number of folds, their mean and sample sd (NaN for one fold)."""
    keys = ["recipe", "preset", "depth", "kind"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "folds", "mean", "sd"])
    per_fold = frame.groupby([*keys, "speaker"], sort=False)[metric].mean().reset_index()
    wide = per_fold.pivot_table(index=keys, columns="speaker", values=metric, sort=False)
    stats = per_fold.groupby(keys, sort=False)[metric].agg(folds="count", mean="mean", sd="std")
    out = wide.join(stats).reset_index()
    out.columns.name = None
    return out


def section(ctx: Context) -> Section | None:
    """The held-out-speaker table of a run with speaker folds (None without any)."""
    frame = fold_frame(ctx.results)
    if frame.empty:
        return None
    table = fold_table(frame)
    shown = table.copy()
    for column in shown.columns[4:]:
        if column == "folds":
            continue
        # a speaker without a finished cell, and the sd of one fold, show as a dash
        shown[column] = ["–" if pd.isna(v) else f"{v:.3f}" for v in shown[column]]
    complete = table[table["folds"] == table["folds"].max()]  # a 1-fold mean is no answer
    best = complete.loc[complete["mean"].idxmax()]
    sec = Section("folds", "Held-out speakers (leave-one-speaker-out)")
    sec.blocks.append(
        Text(
            f"Test {METRIC} on each held-out speaker (a model trained on the others) and mean ± "
            f"sd over the folds. Best mean over the most folds: {best['recipe']}, "
            f"{best['preset']} d{best['depth']} {best['kind']}, {best['mean']:.3f} over "
            f"{int(best['folds'])} fold(s)."
        )
    )
    sec.blocks.append(Table.from_frame(shown, "per held-out speaker, and mean ± sd over folds"))
    return sec
