"""The report's gradient-flow section: do gradients reach the first blocks, at init and later?

Reads each cell's tidy gradient table (``tables/gradflow/<cell>.parquet``, written by
``bench.gradflow``) and its summary in the cell result (``results.record.GradientFlow``). Shows
the per-block gradient norm at initialization against depth from the input (one line per network
depth, log scale), a heatmap of block x training step for the deepest plain and residual cells,
and the degradation plot: final training loss and test accuracy against depth for every block
variant.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from reports import plots, tables
from reports.page import Context, Section, Table, Text
from results.record import VANISHED

# Which cells' gradients the report shows: a diverged cell's table ends where its loss blew up.
SHOWN = ("ok", "diverged")
# The statistics of ``GradientFlow.init``/``.end`` in the summary table, with significant digits.
STATISTICS = (("first_last_ratio", 3), ("log10_slope_per_block", 3), ("vanished_fraction", 2))


def load(ctx: Context) -> pd.DataFrame:
    """Every ok or diverged cell's gradient table, with the cell's identity columns added.

    A diverged cell's table ends where its loss became non-finite.
    """
    frames = []
    for r in ctx.results:
        if r.status not in SHOWN or "gradflow" not in r.tables or r.model is None:
            continue
        t = pd.read_parquet(ctx.run_dir / r.tables["gradflow"])
        frames.append(
            t.assign(
                cell_id=r.id,
                experiment=r.cell.experiment,
                family=r.model.family,
                preset=r.cell.preset,
                blocks=r.model.depth,
                kind=r.kind,
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def block_table(flow: pd.DataFrame, step: int | None = 0) -> pd.DataFrame:
    """Per-block gradient norm (root of summed squares over the block's layers) per cell.

    ``step=None`` takes each cell's last recorded step.
    """
    rows = flow[flow["block"] >= 1]
    if step is None:
        last = rows.groupby("cell_id")["step"].transform("max")
        rows = rows[rows["step"] == last]
    else:
        rows = rows[rows["step"] == step]
    keys = ["cell_id", "experiment", "family", "preset", "blocks", "kind", "step", "block"]
    out = rows.assign(sq=rows["grad_norm"] ** 2).groupby(keys, sort=False)["sq"].sum()
    return np.sqrt(out).rename("grad_norm").reset_index()


@plots._styled
def norms_vs_depth(blocks: pd.DataFrame) -> bytes | None:
    """Block gradient norm at init against block index, one line per network depth."""
    if blocks.empty:
        return None
    panels = list(blocks.groupby(["preset", "kind"], sort=True))
    fig, axes = plots._panels(len(panels), 3.2, 2.6, sharey=True)
    depths = sorted(blocks["blocks"].unique())
    palette = dict(zip(depths, sns.color_palette("viridis", len(depths)), strict=True))
    for ax, ((preset, kind), part) in zip(axes, panels, strict=True):
        for depth, line in part.groupby("blocks"):
            line = line.sort_values("block")
            ax.plot(line["block"], line["grad_norm"], color=palette[depth], label=str(depth), lw=1)
        ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("block (from the input)")
        ax.set_ylabel("gradient L2 norm at init")
        ax.set_title(f"{preset} · {kind}")
    axes[-1].legend(title="blocks", fontsize=7)
    fig.tight_layout()
    plots._legend_outside(fig, axes)
    return plots.to_png(fig)


@plots._styled
def heatmap(flow: pd.DataFrame, cell_ids: list[str]) -> bytes | None:
    """log10 block gradient norm over training steps, one panel per chosen cell."""
    cells = [c for c in cell_ids if c in set(flow["cell_id"])]
    if not cells:
        return None
    fig, axes = plots._panels(len(cells), 4.2, 3.0)
    for ax, cell in zip(axes, cells, strict=True):
        part = flow[(flow["cell_id"] == cell) & (flow["block"] >= 1)]
        grid = (
            part.assign(sq=part["grad_norm"] ** 2)
            .groupby(["block", "step"])["sq"]
            .sum()
            .pipe(np.sqrt)
            .unstack("step")
        )
        sns.heatmap(
            np.log10(grid.clip(lower=1e-12)),
            ax=ax,
            cmap="magma",
            cbar_kws={"label": "log10 gradient norm"},
        )
        ax.set_xlabel("training step")
        ax.set_ylabel("block (from the input)")
        ax.set_title(cell, fontsize=7)
    fig.tight_layout()
    return plots.to_png(fig)


@plots._styled
def degradation(df: pd.DataFrame) -> bytes | None:
    """Final training loss and test accuracy against depth, per preset and block variant.

    A cell whose loss became non-finite has no final loss: it is marked with a cross at the top
    of its panel, at its depth, in its variant's colour, rather than left out.
    """
    diverged = df[df["status"].eq("diverged")]
    df = df[df["status"].eq("ok")]
    metrics = [m for m in ("train_loss", "accuracy") if m in df.columns and df[m].notna().any()]
    if df.empty or not metrics:
        return None
    presets = sorted(df["preset"].dropna().unique())  # a preset is one task's family and head
    fig, axes = plt.subplots(
        len(metrics),
        len(presets),
        figsize=(3.4 * len(presets), 2.6 * len(metrics)),
        squeeze=False,
    )
    for i, metric in enumerate(metrics):
        for j, preset in enumerate(presets):
            ax, part = axes[i][j], df[(df["preset"] == preset) & df[metric].notna()]
            ax.set_title(preset)
            if part.empty:  # e.g. no accuracy for speech recognition
                ax.set_axis_off()
                continue
            kinds = [k for k in tables.KINDS if k in set(part["kind"])]
            sns.lineplot(
                part,
                x="depth",
                y=metric,
                hue="kind",
                hue_order=kinds,
                palette=plots.PALETTE,
                style="kind",
                markers=plots.MARKERS,
                dashes=False,
                ax=ax,
                errorbar="sd",
            )
            ax.set_xscale("log", base=2)
            if metric == "train_loss":
                ax.set_yscale("log")
            ax.set_xlabel("depth (residual blocks)")
            ax.set_ylabel(
                {"train_loss": "final training loss (nats, ↓)"}.get(
                    metric, "test accuracy (fraction, ↑)"
                )
            )
            lost = diverged[diverged["preset"] == preset]
            for kind, rows in lost.groupby("kind"):
                ax.scatter(
                    rows["depth"],
                    [0.96] * len(rows),
                    transform=ax.get_xaxis_transform(),  # x in data, y in axes fraction
                    marker="x",
                    s=60,
                    color=plots.PALETTE.get(kind, "k"),
                    label=f"{kind}: diverged",
                    clip_on=False,
                )
    fig.tight_layout()
    plots._legend_outside(fig, list(axes.flat))
    return plots.to_png(fig)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def summary_table(ctx: Context) -> Table | None:
    """One row per cell: the gradient statistics at init and at the end, and their cost."""
    rows = []
    for r in ctx.results:
        g = r.gradient_flow
        if r.status not in SHOWN or g is None or not g.init:
            continue
        rows.append(
            [
                r.id + (" (diverged)" if r.status == "diverged" else ""),
                str(tables.depth(r)),
                r.kind,
                # at init, then at the end (empty when training recorded one step only)
                *(_fmt(at.get(name), n) for name, n in STATISTICS for at in (g.init, g.end)),
                "–" if g.overhead is None else f"{100 * g.overhead:.1f}",
            ]
        )
    if not rows:
        return None
    return Table(
        [
            "cell",
            "blocks",
            "kind",
            "first/last at init",
            "first/last at end",
            "log10 slope at init (per block)",
            "log10 slope at end",
            "vanished at init",
            "vanished at end",
            "recording cost (% of training)",
        ],
        rows,
        "Gradient norm of the first block over the last block (1 = even flow; ≪ 1 = vanishing "
        "toward the input), slope of log10 block norm against block index, and the fraction of "
        f"blocks whose norm is below {VANISHED:g} of the largest.",
        numeric=[False, True, False] + [True] * 7,
        summary=f"gradient statistics of every cell ({len(rows)})",
    )


def section(ctx: Context) -> Section | None:
    """The gradient-flow section, or None when no cell recorded gradients."""
    flow = load(ctx)
    if flow.empty:
        return None
    out = Section("gradflow", "Gradient flow")
    out.blocks.append(
        Text(
            "Gradient L2 norms of the loss with respect to each layer's weights, grouped per "
            "residual block, at initialization (averaged over fixed training batches) and every "
            "few training steps on a fixed batch."
        )
    )
    table = summary_table(ctx)
    if table:
        out.blocks.append(table)
    out.figure(
        norms_vs_depth(block_table(flow, 0)),
        "Gradient norm of each block at initialization against its position from the input, one "
        "line per network depth (log scales). Look for: lines that fall toward block 1 (vanishing "
        "gradients) in plain nets, flat lines in residual ones.",
    )
    deepest = []
    trained = flow[flow["step"] > 0]
    for kind in ("plain", "residual"):
        part = flow[(flow["kind"] == kind) & flow["cell_id"].isin(trained["cell_id"])]
        if not part.empty:
            deepest.append(part.loc[part["blocks"].idxmax(), "cell_id"])
    out.figure(
        heatmap(flow, deepest),
        "Block gradient norm (log10) over training steps for the deepest plain and residual "
        "cells. Look for: dark rows near block 1 (gradients that never reach the input side).",
    )
    out.figure(
        degradation(ctx.df),
        "Final training loss (top) and test accuracy (bottom) against depth for each block "
        "variant. Look for: plain nets whose training loss rises with depth (degradation) where "
        "residual ones keep falling.",
    )
    return out
