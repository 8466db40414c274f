"""Leave-one-speaker-out: each held-out-speaker fold, and per recipe the mean ± sd over folds
with the difference vs scratch paired by fold.

A fold is a cell whose dataset options name exactly one held-out speaker (``test_speakers``, as
``folds = [...]`` in a suite makes them); its recipe is the experiment's name without the
``-SPEAKER`` suffix (``augment-george`` -> ``augment``). ``recipe_table`` is the README's
held-out-speaker table; ``bench report`` writes it as Markdown to ``tables/folds.md``. Reads
results only.
"""

from __future__ import annotations

import pandas as pd

from reports.page import Context, Section, Table, Text
from results import stats
from results.record import CellResult

METRIC = "accuracy"
REFERENCE = "scratch"  # the recipe every other one is compared with, fold by fold


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
    per_fold = _per_fold(frame, metric)
    wide = per_fold.pivot_table(index=keys, columns="speaker", values=metric, sort=False)
    spread = per_fold.groupby(keys, sort=False)[metric].agg(folds="count", mean="mean", sd="std")
    out = wide.join(spread).reset_index()
    out.columns.name = None
    return out


def _per_fold(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (recipe, preset, depth, kind, speaker): the mean over seeds."""
    keys = ["recipe", "preset", "depth", "kind", "speaker"]
    return frame.groupby(keys, sort=False)[metric].mean().reset_index()


def recipe_table(
    frame: pd.DataFrame, metric: str = METRIC, reference: str = REFERENCE
) -> pd.DataFrame:
    """Rows: recipes, the reference first; columns: one per model (``d3 residual``, ...).

    Each entry is the mean ± sample sd of ``metric`` over the held-out speakers and, for every
    recipe but ``reference``, its difference from the reference at the same depth and kind,
    paired by speaker: the mean of the per-fold differences with its 95% t-interval over the
    folds both have (``results.stats.mean_interval``). An entry over fewer folds than the run
    has (a run stopped early) says how many. The preset may differ (a peak-normalized recipe
    against scratch ``tc-resnet8``): a recipe is what changes, the model shape does not.
    """
    if frame.empty:
        return pd.DataFrame(columns=["recipe"])
    per = _per_fold(frame, metric)
    per["model"] = [f"d{d} {k}" for d, k in zip(per["depth"], per["kind"], strict=True)]
    models = sorted(
        per["model"].unique(), key=lambda m: (int(m.split()[0][1:]), m.split()[1] != "residual", m)
    )
    ref = per[per["recipe"] == reference].set_index(["model", "speaker"])[metric]
    folds = per["speaker"].nunique()
    rows = []
    recipes = sorted(per["recipe"].unique(), key=lambda r: r != reference)  # reference first
    for recipe in recipes:
        part = per[per["recipe"] == recipe]
        row = {"recipe": recipe}
        for model in models:
            cells = part[part["model"] == model].set_index("speaker")[metric]
            if cells.empty:
                row[model] = "–"
                continue
            sd = cells.std() if len(cells) > 1 else float("nan")
            text = f"{cells.mean():.3f} ± {sd:.3f}" if len(cells) > 1 else f"{cells.mean():.3f}"
            if len(cells) < folds:  # a run stopped early: say how much of it the entry is
                text += f", {len(cells)} of {folds} folds"
            shared = [s for s in cells.index if (model, s) in ref.index]
            if recipe != reference and len(shared) >= 2:
                diff = stats.mean_interval([cells[s] - ref[(model, s)] for s in shared])
                text += f" (Δ {diff.value:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}])"
            row[model] = text
        rows.append(row)
    return pd.DataFrame(rows, columns=["recipe", *models])


def markdown(frame: pd.DataFrame, metric: str = METRIC, reference: str = REFERENCE) -> str:
    """``recipe_table`` as a Markdown table with a line saying what its entries are."""
    table = recipe_table(frame, metric, reference)
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    folds = frame["speaker"].nunique()
    note = (
        f"Held-out-speaker {metric}: mean ± sd over {folds} folds (one model per held-out "
        f"speaker); in brackets the difference vs {reference} at the same depth and kind, paired "
        f"by fold, with its 95% t-interval over the folds."
    )
    return "\n".join([note, "", head, rule, *body]) + "\n"


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
    per_recipe = recipe_table(frame)
    if len(per_recipe.columns) > 1:
        sec.blocks.append(
            Table.from_frame(
                per_recipe,
                f"per recipe: mean ± sd over folds; Δ: the difference vs {REFERENCE} paired by "
                f"fold, 95% t-interval over the folds (bench report writes it to tables/folds.md)",
            )
        )
    return sec
