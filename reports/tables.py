"""Tidy tables from cell results: one row per cell, then means over seeds per model and depth.

Generic over metric names: every metric a cell records (a ``results.metrics.Metric``: value, unit
and direction) becomes a column, so a new task's metrics (WER, mAP, ...) show up without changes
here. Units and directions are read from the results themselves, so the tables and the report
agree with the regression checks on which way is better.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pandas as pd

from results.record import CellResult

# Residual/plain, with the block variant when it is not the published (post-activation) one.
KINDS = ("residual", "residual-pre", "residual-rezero", "plain", "plain-pre")

# Columns of ``tidy`` before the metric columns.
ID_COLUMNS = [
    "cell_id",
    "status",
    "task",
    "experiment",
    "dataset",
    "family",
    "preset",
    "depth",
    "layers",
    "width",
    "residual",
    "kind",
    "seed",
    "skipped",
]

# What identifies one model point; ``summary`` averages over everything else (the seeds).
GROUP_KEYS = ["task", "experiment", "family", "preset", "width", "depth", "layers", "kind"]

# Shown next to the headline metric in the summary, when the cells record them.
SUMMARY_EXTRAS = ("macro_f1", "params", "train_seconds")


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """A metric's unit and direction, as recorded in the results."""

    name: str
    unit: str = ""
    higher_is_better: bool | None = None

    @property
    def arrow(self) -> str:
        if self.higher_is_better is None:
            return ""
        return "↑" if self.higher_is_better else "↓"

    @property
    def label(self) -> str:
        """Column header and axis label, e.g. ``accuracy (fraction, ↑)``."""
        extra = ", ".join(p for p in (self.unit, self.arrow) if p)
        return f"{self.name} ({extra})" if extra else self.name


def info_for(info: dict[str, MetricInfo], name: str) -> MetricInfo:
    """``info[name]``, or a bare ``MetricInfo`` (no unit, no direction) for an unknown metric."""
    return info[name] if name in info else MetricInfo(name)


def metric_info(results: list[CellResult]) -> dict[str, MetricInfo]:
    """Unit and direction of every metric found in ``results``, in order of first appearance."""
    info: dict[str, MetricInfo] = {}
    for result in results:
        for name, m in result.metrics.items():
            if name not in info:
                info[name] = MetricInfo(name, m.unit, m.higher_is_better)
    return info


def depth(result: CellResult) -> int | None:
    """The cell's depth in blocks: the built model's (a cell with depth None trains its preset's
    own depth), or the requested one when the cell failed before building a model."""
    return result.model.depth if result.model else result.cell.depth


def _row(result: CellResult) -> dict:
    cell, model, data = result.cell, result.model, result.dataset
    row = {
        "cell_id": cell.id,
        "status": result.status,
        "task": cell.task,
        "experiment": cell.experiment,
        "dataset": cell.dataset,
        "family": model.family if model else None,
        "preset": cell.preset,
        "depth": depth(result),
        "layers": model.layers if model else None,
        "width": model.width if model else cell.width,
        "residual": cell.residual,
        "kind": cell.kind,
        "seed": cell.seed,
        "skipped": data.skipped_count if data else 0,
    }
    for name, m in result.metrics.items():
        if name not in row:
            row[name] = m.value
    return row


def tidy(results: list[CellResult]) -> pd.DataFrame:
    """One row per cell: identity columns (see ``ID_COLUMNS``), then one column per metric.

    Cells that did not finish ok have NaN metrics but keep their row, so a summary can count them.
    """
    df = pd.DataFrame([_row(r) for r in results], columns=None if results else ID_COLUMNS)
    for col in ("depth", "layers", "seed", "skipped"):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    df["width"] = pd.to_numeric(df["width"]).astype("float64")
    df["residual"] = df["residual"].astype(bool)
    for name in df.columns[len(ID_COLUMNS) :]:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    return df


def summary(df: pd.DataFrame, metric: str, extras: tuple[str, ...] = SUMMARY_EXTRAS):
    """Mean and sd of ``metric`` over seeds per model point (``GROUP_KEYS``).

    Pass the rows of one task. Columns: the group keys, ``mean``, ``std`` (NaN for one seed),
    ``n`` (seeds that finished ok), ``failed`` (cells that did not), then the mean of each extra
    metric the cells record. Sorted by model, residual before plain, then depth.
    """
    if metric not in df.columns:
        raise KeyError(f"no metric {metric!r} in the results; have: {list(df.columns)}")
    groups = df.groupby(GROUP_KEYS, dropna=False, sort=False)
    out = groups[metric].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["failed"] = groups["status"].agg(lambda s: int((s != "ok").sum()))
    for name in extras:
        if name in df.columns and name != metric:
            out[name] = groups[name].mean()
    out = out.reset_index()
    order = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    keys = ["task", "experiment", "family", "preset", "width", "_kind", "depth"]
    out = out.assign(_kind=order).sort_values(keys, kind="stable", na_position="first")
    return out.drop(columns="_kind").reset_index(drop=True)


def skip_gain(summ: pd.DataFrame, higher_is_better: bool | None = True) -> pd.DataFrame:
    """Residual vs plain mean at each depth, and the gain from skips (positive = residual better).

    Takes the output of ``summary``; only depths where both kinds have a row are kept.
    """
    keys = [k for k in GROUP_KEYS if k != "kind"]
    res = summ[summ["kind"] == "residual"][[*keys, "mean"]]
    plain = summ[summ["kind"] == "plain"][[*keys, "mean"]]
    out = res.merge(plain, on=keys, suffixes=("_residual", "_plain"))
    sign = -1.0 if higher_is_better is False else 1.0
    out["gain"] = sign * (out["mean_residual"] - out["mean_plain"])
    return out.reset_index(drop=True)


def best_cell(
    results: list[CellResult], metric: str, kind: str | None = "residual", task: str | None = None
) -> CellResult | None:
    """The ok cell with the best ``metric`` (by its own ``higher_is_better``), or None.

    Args:
        results: cell results, as from ``results.store.read_results``.
        metric: metric name, e.g. ``"accuracy"`` or ``"wer"``.
        kind: ``"residual"``, ``"plain"`` or None for either.
        task: only cells of this task, or None for all.
    """
    candidates = [
        r
        for r in results
        if r.ok
        and (kind is None or r.kind == kind)
        and (task is None or r.cell.task == task)
        and _finite(r.value(metric))
    ]
    if not candidates:
        return None
    pick = max if candidates[0].metrics[metric].higher_is_better else min
    return pick(candidates, key=lambda r: r.value(metric))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def format_value(value, unit: str = "") -> str:
    """A number for a table cell in a unit-appropriate precision; missing values as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    value = float(value)
    if unit == "fraction":
        return f"{value:.3f}"
    if unit in ("count", "samples/s"):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.1f}"
    return f"{value:.4g}"


def _signed(value, unit: str) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:+.3f}" if unit == "fraction" else f"{value:+.4g}"


def _int(value) -> str:
    return "–" if pd.isna(value) else str(int(value))


def format_summary(summ: pd.DataFrame, metric: str, info: dict[str, MetricInfo]) -> pd.DataFrame:
    """``summary`` as display strings with headers that carry unit and direction."""
    head = info_for(info, metric)
    out = pd.DataFrame(
        {
            "family": summ["family"].fillna("–"),
            "preset": summ["preset"].fillna("–"),
            "depth (blocks)": summ["depth"].map(_int),
            "layers": summ["layers"].map(_int),
            "kind": summ["kind"],
        }
    )
    if summ["width"].nunique(dropna=False) > 1:
        out.insert(2, "width", summ["width"].map(lambda w: format_value(w)))
    out[f"{head.label} mean ± sd"] = [
        f"{format_value(m, head.unit)} ± {format_value(s, head.unit)}"
        for m, s in zip(summ["mean"], summ["std"], strict=True)
    ]
    out["seeds"] = summ["n"].astype(int).astype(str)
    if summ["failed"].any():
        out["not ok"] = summ["failed"].astype(int).astype(str)
    for name in summ.columns[list(summ.columns).index("failed") + 1 :]:
        extra = info_for(info, name)
        out[extra.label] = summ[name].map(lambda v, u=extra.unit: format_value(v, u))
    return out.reset_index(drop=True)


def format_gain(gain: pd.DataFrame, metric: str, info: dict[str, MetricInfo]) -> pd.DataFrame:
    """``skip_gain`` as display strings."""
    head = info_for(info, metric)
    return pd.DataFrame(
        {
            "preset": gain["preset"].fillna("–"),
            "depth (blocks)": gain["depth"].map(_int),
            "layers": gain["layers"].map(_int),
            f"residual {head.name}": gain["mean_residual"].map(
                lambda v: format_value(v, head.unit)
            ),
            f"plain {head.name}": gain["mean_plain"].map(lambda v: format_value(v, head.unit)),
            "gain from skips (+ = residual better)": gain["gain"].map(
                lambda v: _signed(v, head.unit)
            ),
        }
    )


def format_cells(df: pd.DataFrame, info: dict[str, MetricInfo]) -> pd.DataFrame:
    """Every cell of ``tidy`` with its metrics, as display strings (the per-seed detail)."""
    out = pd.DataFrame(
        {
            "cell": df["cell_id"],
            "status": df["status"],
            "depth (blocks)": df["depth"].map(_int),
            "layers": df["layers"].map(_int),
            "kind": df["kind"],
            "seed": df["seed"].map(_int),
        }
    )
    for name in df.columns[len(ID_COLUMNS) :]:
        if df[name].notna().any():
            m = info_for(info, name)
            out[m.label] = df[name].map(lambda v, u=m.unit: format_value(v, u))
    return out.reset_index(drop=True)


_NUMERIC = re.compile(r"^[-+−]?[\d,.]+(e[-+]?\d+)?( ± ([\d,.]+(e[-+]?\d+)?|–))?$|^–$")


def numeric_columns(frame: pd.DataFrame) -> list[bool]:
    """Which display columns hold only numbers (right-aligned in the report)."""
    return [
        bool(len(frame)) and all(_NUMERIC.match(str(v)) for v in frame[c]) for c in frame.columns
    ]


def seed_spread(df: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """How much each metric moves between seeds of the same model point (``GROUP_KEYS``).

    Only ok cells and model points with two or more seeds count. Columns: ``metric``,
    ``points`` (model points with 2+ seeds), ``sd_mean`` and ``sd_max`` (standard deviation over
    seeds, averaged and worst over the points), ``range_max`` (largest max - min). Empty when no
    model point has two seeds.
    """
    ok = df[df["status"] == "ok"]
    names = metrics if metrics is not None else list(df.columns[len(ID_COLUMNS) :])
    rows = []
    for name in names:
        if name not in ok.columns or ok[name].notna().sum() < 2:
            continue
        grouped = ok.groupby(GROUP_KEYS, dropna=False, sort=False)[name]
        stats = grouped.agg(["std", "count", "min", "max"])
        stats = stats[stats["count"] >= 2]
        if stats.empty:
            continue
        rows.append(
            {
                "metric": name,
                "points": len(stats),
                "sd_mean": stats["std"].mean(),
                "sd_max": stats["std"].max(),
                "range_max": (stats["max"] - stats["min"]).max(),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "points", "sd_mean", "sd_max", "range_max"])


def format_spread(spread: pd.DataFrame, info: dict[str, MetricInfo]) -> pd.DataFrame:
    """``seed_spread`` as display strings in each metric's unit."""
    units = [info_for(info, n).unit for n in spread["metric"]]
    return pd.DataFrame(
        {
            "metric": [info_for(info, n).label for n in spread["metric"]],
            "model points with 2+ seeds": spread["points"].astype(int).astype(str),
            "sd over seeds, mean": [
                format_value(v, u) for v, u in zip(spread["sd_mean"], units, strict=True)
            ],
            "sd over seeds, max": [
                format_value(v, u) for v, u in zip(spread["sd_max"], units, strict=True)
            ],
            "largest max − min": [
                format_value(v, u) for v, u in zip(spread["range_max"], units, strict=True)
            ],
        }
    )
