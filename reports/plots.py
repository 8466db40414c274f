"""Plots for the report, returned as PNG bytes so the HTML can embed them (no files, no display).

Matplotlib runs on the Agg backend, set before pyplot is imported, so reports render on a headless
machine. Figures are small (``DPI``) and closed after saving, so a long sweep's report stays light.
"""

from __future__ import annotations

import functools
import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from reports.tables import KINDS, MetricInfo, depth  # noqa: E402
from results.record import CellResult  # noqa: E402

DPI = 100
PALETTE = {
    "residual": "#1f6fb4",
    "residual-pre": "#2ca02c",
    "residual-rezero": "#8c564b",
    "plain": "#d6452a",
    "plain-pre": "#ff9f1c",
}
MARKERS = {
    "residual": "o",
    "residual-pre": "^",
    "residual-rezero": "D",
    "plain": "s",
    "plain-pre": "v",
}
X_LABELS = {"depth": "depth (residual blocks)", "layers": "depth (layers)"}
MAX_COLS = 3


def to_png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _styled(fn):
    """Run a plot function in the report's style without touching global rcParams."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with sns.axes_style("whitegrid"), plt.rc_context({"font.size": 8, "axes.titlesize": 9}):
            return fn(*args, **kwargs)

    return wrapper


def _panels(n: int, width: float, height: float, sharey: bool = False):
    cols = min(MAX_COLS, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False, sharey=sharey
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend_outside(fig, axes) -> None:
    """Replace the panels' legends by one right of the figure, clear of the data."""
    with_legend = [ax for ax in axes if ax.get_legend() is not None]
    if not with_legend:
        return
    handles, labels = with_legend[0].get_legend_handles_labels()
    title = with_legend[0].get_legend().get_title().get_text()
    for ax in with_legend:
        ax.get_legend().remove()
    fig.legend(
        handles, labels, title=title, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
    )


def _panel_title(experiment: str, preset: str, family, n_experiments: int) -> str:
    title = f"{preset} ({family})" if isinstance(family, str) else str(preset)
    return f"{title} · {experiment}" if n_experiments > 1 else title


def _depth_panel(ax, part: pd.DataFrame, x: str, metric: str) -> None:
    """One panel of ``metric_vs_depth``: means ± sd, seed points, and ✗ for failed cells."""
    ok = part[part["status"].eq("ok") & part[metric].notna()]
    kinds = [k for k in KINDS if k in set(ok["kind"])]
    if kinds:
        common = {"x": x, "y": metric, "hue": "kind", "hue_order": kinds, "palette": PALETTE}
        sns.lineplot(
            ok,
            **common,
            style="kind",
            style_order=kinds,
            markers=MARKERS,
            dashes=False,
            errorbar="sd",
            err_style="bars",
            err_kws={"capsize": 3},
            ax=ax,
        )
        sns.scatterplot(ok, **common, alpha=0.35, s=14, legend=False, ax=ax)
    for _, row in part[part["status"].ne("ok")].iterrows():
        ax.plot(
            row[x],
            0.03,
            marker="X",
            ms=7,
            color=PALETTE.get(row["kind"], "k"),
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            linestyle="none",
        )


@_styled
def metric_vs_depth(
    df: pd.DataFrame, metric: str, info: MetricInfo | None = None, x: str = "depth"
) -> bytes | None:
    """``metric`` against depth, residual vs plain, one panel per experiment and preset.

    Lines join the means over seeds with ±1 sd bars; dots are single seeds; an ✗ on the x axis
    marks a cell that did not finish ok (diverged, out of memory, error). None when no ok cell has
    the metric or no cell knows its depth.
    """
    info = info or MetricInfo(metric)
    if metric not in df.columns or df[metric].notna().sum() == 0:
        return None
    df = df.dropna(subset=[x]).astype({x: "float64"})
    if df.empty:
        return None
    groups = [(k, part) for k, part in df.groupby(["experiment", "preset"], sort=False)]
    n_exp = df["experiment"].nunique()
    fig, axes = _panels(len(groups), 3.3, 2.6, sharey=info.unit == "fraction")
    for ax, ((experiment, preset), part) in zip(axes, groups, strict=True):
        _depth_panel(ax, part, x, metric)
        ax.set_xticks(sorted(part[x].unique()))
        ax.set_xlabel(X_LABELS.get(x, x))
        ax.set_ylabel(info.label)
        ax.set_title(_panel_title(experiment, preset, part["family"].iloc[0], n_exp))
    fig.tight_layout()
    _legend_outside(fig, axes)
    return to_png(fig)


@_styled
def confusion_matrix(result: CellResult) -> bytes | None:
    """Heatmap of one cell's test confusion matrix, rows normalized (recall), true vs predicted.

    Counts are written in the cells when there are few classes. None when the cell has no matrix
    (``evaluation["confusion_matrix"]``, with its class names in ``evaluation["labels"]``).
    """
    cm = np.asarray(result.evaluation.get("confusion_matrix", []), dtype=float)
    if cm.ndim != 2 or cm.size == 0:
        return None
    labels = result.evaluation.get("labels")
    n = cm.shape[0]
    if not labels or len(labels) != n:
        labels = [str(i) for i in range(n)]
    rows = cm.sum(axis=1, keepdims=True)
    recall = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = min(8.0, max(3.6, 0.2 * n + 1.6))
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    sns.heatmap(
        recall,
        vmin=0,
        vmax=1,
        cmap="Blues",
        square=True,
        ax=ax,
        annot=cm.astype(int) if n <= 12 else False,
        fmt="d",
        annot_kws={"fontsize": 7},
        xticklabels=labels,
        yticklabels=labels,
        cbar_kws={"label": "fraction of the true class", "shrink": 0.75},
    )
    ax.tick_params(labelsize=7 if n <= 20 else 6)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(result.id, fontsize=8)
    fig.tight_layout()
    return to_png(fig)


def _curves(results: list[CellResult], key: str) -> pd.DataFrame:
    rows = []
    for r in results:
        blocks = depth(r)
        for epoch, value in enumerate(r.history.get(key, ()), 1):
            rows.append(
                {
                    "cell_id": r.id,
                    "experiment": r.cell.experiment,
                    "preset": r.cell.preset,
                    "family": r.model.family if r.model else None,
                    "depth": "–" if blocks is None else str(blocks),
                    "kind": r.kind,
                    "epoch": epoch,
                    key: value,
                }
            )
    return pd.DataFrame(rows)


@_styled
def training_curves(
    results: list[CellResult], key: str = "val_accuracy", info: MetricInfo | None = None
) -> bytes | None:
    """``history[key]`` per epoch of every cell: colour = depth, solid = residual, dashed = plain.

    One panel per experiment and preset, one line per cell (seeds drawn separately). None when no
    cell has that history.
    """
    data = _curves(results, key)
    if data.empty:
        return None
    info = info or MetricInfo(key)
    groups = [(k, part) for k, part in data.groupby(["experiment", "preset"], sort=False)]
    n_exp = data["experiment"].nunique()
    depths = sorted(data["depth"].unique(), key=lambda d: (len(d), d))
    colours = dict(zip(depths, sns.color_palette("viridis_r", len(depths)), strict=True))
    kinds = [k for k in KINDS if k in set(data["kind"])]
    fig, axes = _panels(len(groups), 3.3, 2.6, sharey=info.unit == "fraction")
    for ax, ((experiment, preset), part) in zip(axes, groups, strict=True):
        sns.lineplot(
            part,
            x="epoch",
            y=key,
            hue="depth",
            hue_order=depths,
            palette=colours,
            style="kind",
            style_order=kinds,
            units="cell_id",
            estimator=None,
            lw=1.1,
            ax=ax,
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(info.label)
        ax.set_title(_panel_title(experiment, preset, part["family"].iloc[0], n_exp))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    _legend_outside(fig, axes)
    return to_png(fig)


@_styled
def pr_curves(curves: dict[str, dict], title: str = "") -> bytes | None:
    """Interpolated precision against recall, one line per labelled curve.

    Each curve is ``{"recall": [...], "precision": [...]}`` as the retrieval code stores it (mean
    interpolated precision over queries). None when no curve has a finite point.
    """
    curves = {
        k: c
        for k, c in curves.items()
        if c and np.isfinite(np.asarray(c.get("precision") or [], dtype=float)).any()
    }
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for (label, c), colour in zip(
        curves.items(), sns.color_palette("colorblind", len(curves)), strict=True
    ):
        ax.plot(c["recall"], c["precision"], marker=".", lw=1.4, color=colour, label=label)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("interpolated precision (mean over queries)")
    if title:
        ax.set_title(title, fontsize=8)
    ax.legend(loc="lower left", fontsize=7, frameon=False)
    fig.tight_layout()
    return to_png(fig)


@_styled
def answer(points: pd.DataFrame) -> bytes | None:
    """The answer in one picture: one panel per model ladder (``panel``), its headline metric
    against depth for each kind (residual, plain, ReZero, ...), the mean and its 95% interval
    over seeds; a hollow marker is one seed, whose bar is the test set's interval only.

    ``points`` has the columns ``panel``, ``label`` (the metric's axis label), ``kind``,
    ``depth``, ``value``, ``low``, ``high`` (None: no interval) and ``over_seeds``. None when
    it is empty.
    """
    if points.empty:
        return None
    panels = list(dict.fromkeys(points["panel"]))
    fig, axes = _panels(len(panels), 4.6, 3.3)
    for ax, panel in zip(axes, panels, strict=True):
        part = points[points["panel"] == panel]
        for kind in [k for k in KINDS if k in set(part["kind"])]:
            line = part[part["kind"] == kind].sort_values("depth")
            value = line["value"].to_numpy(float)
            low = line["low"].fillna(line["value"]).to_numpy(float)
            high = line["high"].fillna(line["value"]).to_numpy(float)
            seeds = bool(line["over_seeds"].all())
            ax.errorbar(
                line["depth"], value, yerr=[value - low, high - value], color=PALETTE[kind],
                marker=MARKERS.get(kind, "o"), ms=6, capsize=4, lw=1.6,
                mfc=PALETTE[kind] if seeds else "white",
                label=kind if seeds else f"{kind} (one seed: test-set interval)",
            )  # fmt: skip
        depths = sorted(part["depth"].unique())
        if depths[-1] / max(depths[0], 1) >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(int(d)) for d in depths])
        ax.minorticks_off()
        ax.set_xlabel(X_LABELS["depth"])
        ax.set_ylabel(part["label"].iloc[0])
        ax.set_title(panel)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return to_png(fig)
