"""The report's speed section: throughput, latency, FLOPs and utilization of every cell.

Reads each ok cell's ``speed`` record (``results.record.Speed``, measured by ``bench.speed``):
the calibration peak of the machine, per-cell training throughput (median step after warm-up),
step-time spread, compile time, batch-1 latency, large-batch inference throughput, FLOPs per
example, utilization and the share of step time spent waiting on data, the device, precision and
replicas it ran on, and its memory peaks (host RSS; device allocator on a GPU). Shows throughput per
backend side by side with the fastest named per model, throughput and latency against depth
(residual vs plain), and accuracy (or WER) against latency with its Pareto front.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from reports import plots, tables
from reports.page import Context, Section, Table, Text
from results.metrics import METRICS
from results.record import Speed

DATA_WAIT_TARGET = 0.05  # the input pipeline should hide itself: under 5% of step time waiting


def variant(speed: Speed) -> str:
    """A backend and its XLA setting as the report names them, e.g. ``tensorflow+xla``."""
    if speed.backend == "tensorflow" and speed.jit_compile:
        return "tensorflow+xla"
    return speed.backend


def frame(ctx: Context) -> pd.DataFrame:
    """One row per ok cell with a speed record: identity, variant, speed figures, headline."""
    rows = []
    for r in ctx.results:
        sp = r.speed
        if not r.ok or sp is None:
            continue
        rows.append(
            {
                "cell_id": r.id,
                "task": r.cell.task,
                "experiment": r.cell.experiment,
                "family": r.model.family if r.model else None,
                "preset": r.cell.preset,
                "depth": tables.depth(r),
                "kind": r.kind,
                "variant": variant(sp),
                "train_samples_per_s": sp.train_samples_per_s,
                "step_p10": sp.step_seconds["p10"],
                "step_p50": sp.step_seconds["p50"],
                "step_p90": sp.step_seconds["p90"],
                "compile_seconds": sp.compile_seconds,
                "latency_p50_ms": sp.latency_ms["p50"],
                "latency_p90_ms": sp.latency_ms["p90"],
                "infer_samples_per_s": sp.infer_samples_per_s,
                "flops_per_example": sp.flops_per_example,
                "params": r.value("params"),
                "utilization": sp.utilization,
                "data_wait_share": sp.data_wait_share,
                "peak_gflops": sp.peak_gflops,
                "device": _device(sp),
                "precision": r.cell.precision,
                "replicas": r.cell.replicas,
                "host_peak_rss_bytes": sp.host_peak_rss_bytes,
                "device_peak_bytes": sp.device_peak_bytes,
                "accuracy": r.value("accuracy"),
                "wer": r.value("wer"),
                "deterministic": r.deterministic,
            }
        )
    df = pd.DataFrame(rows)
    if not df.empty:
        df["depth"] = pd.to_numeric(df["depth"]).astype("Int64")
        df["status"] = "ok"
        for col in ("params", "accuracy", "wer", "host_peak_rss_bytes", "device_peak_bytes"):
            df[col] = pd.to_numeric(df[col]).astype("float64")
    return df


def _device(speed: Speed) -> str:
    """``cpu``, ``gpu``, ``gpu×2`` (replicas); ``–`` for cells recorded before the device axis."""
    if speed.device is None:
        return "–"
    count = speed.device_count or 1
    return speed.device + (f"×{count}" if count > 1 else "")


def _mb(value) -> str:
    return _fmt(None if value is None or pd.isna(value) else value / 2**20, ",.0f")


def _fmt(value, digits: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    return format(float(value), digits)


def peak_table(df: pd.DataFrame) -> Table:
    """The calibration peak (float32 matmul GFLOP/s) per backend variant: best, median, cells."""
    rows = []
    for name, part in df.groupby("variant", sort=False):
        peaks = part["peak_gflops"].astype(float)
        rows.append([name, _fmt(peaks.max(), ".1f"), _fmt(peaks.median(), ".1f"), str(len(part))])
    return Table(
        ["backend", "peak GFLOP/s (best)", "peak GFLOP/s (median)", "cells"],
        rows,
        "Calibration peak: a 1024x1024 float32 matrix product timed in each cell's process. "
        "Utilization is achieved training FLOP/s (3x forward) over this peak.",
        numeric=[False, True, True, True],
    )


def backend_table(df: pd.DataFrame) -> Table | None:
    """Training throughput per backend side by side, one row per model; the fastest named."""
    if df["variant"].nunique() < 2:
        return None
    keys = ["preset", "depth", "kind"]
    wide = df.pivot_table(
        index=keys, columns="variant", values="train_samples_per_s", aggfunc="median", sort=False
    )
    columns = list(dict.fromkeys(df["variant"]))
    wide = wide.reindex(columns=columns)
    rows = []
    for key, values in wide.iterrows():
        best = values.idxmax() if values.notna().any() else "–"
        rows.append(
            [str(key[0]), _fmt(key[1], ".0f"), str(key[2])]
            + [_fmt(v, ",.0f") for v in values]
            + [str(best)]
        )
    return Table(
        ["preset", "depth (blocks)", "kind", *[f"{c} (samples/s)" for c in columns], "fastest"],
        rows,
        "Training throughput per backend (median step after warm-up, same batch size): the "
        "fastest backend per model is named.",
        numeric=[False, True, False, *([True] * len(columns)), False],
    )


def cell_table(df: pd.DataFrame) -> Table:
    """Every cell's speed figures."""
    out = pd.DataFrame(
        {
            "cell": df["cell_id"],
            "backend": df["variant"],
            "train samples/s": df["train_samples_per_s"].map(lambda v: _fmt(v, ",.0f")),
            "step p10/p50/p90 (ms)": [
                "/".join(_fmt(1e3 * v, ".0f") for v in row)
                for row in df[["step_p10", "step_p50", "step_p90"]].itertuples(index=False)
            ],
            "compile (s)": df["compile_seconds"].map(lambda v: _fmt(v, ".1f")),
            "latency p50 (ms)": df["latency_p50_ms"].map(lambda v: _fmt(v, ".2f")),
            "latency p90 (ms)": df["latency_p90_ms"].map(lambda v: _fmt(v, ".2f")),
            "infer samples/s": df["infer_samples_per_s"].map(lambda v: _fmt(v, ",.0f")),
            "MFLOP/example": (df["flops_per_example"] / 1e6).map(lambda v: _fmt(v, ".3g")),
            "params": df["params"].map(lambda v: _fmt(v, ",.0f")),
            "utilization": df["utilization"].map(lambda v: _fmt(v, ".1%")),
            "data wait": df["data_wait_share"].map(lambda v: _fmt(v, ".1%")),
            "device": df["device"],
            "precision": df["precision"],
            "host peak RSS (MiB)": df["host_peak_rss_bytes"].map(_mb),
            "device peak (MiB)": df["device_peak_bytes"].map(_mb),
        }
    )
    return Table.from_frame(out, summary=f"every cell's speed ({len(out)})")


def precision_table(df: pd.DataFrame) -> Table | None:
    """Cells that differ only in precision, side by side: quality, throughput and memory."""
    if df["precision"].nunique() < 2:
        return None
    keys = ["experiment", "preset", "depth", "kind", "device"]
    precisions = list(dict.fromkeys(df["precision"]))
    rows = []
    for key, part in df.groupby(keys, sort=False, dropna=False):
        by = part.groupby("precision").median(numeric_only=True)
        row = [str(key[0]), str(key[1]), _fmt(key[2], ".0f"), str(key[3]), str(key[4])]
        for p in precisions:
            if p not in by.index:
                row += ["–"] * 4
                continue
            quality = by.loc[p, "accuracy"] if part["task"].iloc[0] == "kws" else by.loc[p, "wer"]
            row += [
                _fmt(quality, ".3f"),
                _fmt(by.loc[p, "train_samples_per_s"], ",.0f"),
                _mb(by.loc[p, "host_peak_rss_bytes"]),
                _mb(by.loc[p, "device_peak_bytes"]),
            ]
        rows.append(row)
    head = ["experiment", "preset", "depth (blocks)", "kind", "device"]
    for p in precisions:
        head += [f"{p} acc/WER", f"{p} samples/s", f"{p} RSS MiB", f"{p} device MiB"]
    return Table(
        head,
        rows,
        "Precision side by side (median over seeds): accuracy (keyword spotting) or WER (speech "
        "recognition), training throughput and memory peaks of cells that differ only in their "
        "dtype policy.",
        numeric=[False, False, True, False, False] + [True] * (4 * len(precisions)),
    )


def pareto_front(points: pd.DataFrame, x: str, y: str, higher_is_better: bool) -> pd.DataFrame:
    """The points no other point beats on both ``x`` (lower is better) and ``y``."""
    ordered = points.sort_values([x, y], ascending=[True, not higher_is_better])
    best, keep = None, []
    for idx, value in ordered[y].items():
        if best is None or (value > best if higher_is_better else value < best):
            keep.append(idx)
            best = value
    return ordered.loc[keep]


@plots._styled
def quality_vs_latency(df: pd.DataFrame, metric: str, higher_is_better: bool) -> bytes | None:
    """``metric`` against batch-1 latency (log x), residual vs plain, with the Pareto front."""
    part = df.dropna(subset=[metric, "latency_p50_ms"])
    if part.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    kinds = [k for k in tables.KINDS if k in set(part["kind"])]
    sns.scatterplot(
        part,
        x="latency_p50_ms",
        y=metric,
        hue="kind",
        hue_order=kinds,
        palette=plots.PALETTE,
        style="preset",
        s=40,
        ax=ax,
    )
    front = pareto_front(part, "latency_p50_ms", metric, higher_is_better)
    ax.step(front["latency_p50_ms"], front[metric], where="post", color="0.3", lw=1, ls="--")
    for _, row in front.iterrows():
        ax.annotate(f"d{row['depth']}", (row["latency_p50_ms"], row[metric]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("inference latency, batch 1, p50 (ms)")
    ax.set_ylabel(f"{metric} ({'↑' if higher_is_better else '↓'})")
    fig.tight_layout()
    plots._legend_outside(fig, [ax])
    return plots.to_png(fig)


def section(ctx: Context) -> Section | None:
    """The speed section, or None when no cell recorded its speed."""
    df = frame(ctx)
    if df.empty:
        return None
    out = Section("speed", "Speed")
    out.blocks.append(
        Text(
            "Training throughput is the batch size over the median step time after the warm-up "
            "steps (compile time is reported apart); latency is one clip at batch 1 through the "
            "compiled predict path; FLOPs are counted from the layers' shapes; utilization is "
            "training FLOP/s (three forward passes per example) over the calibration peak "
            "measured in the same process."
        )
    )
    out.blocks.append(peak_table(df))
    table = backend_table(df)
    if table:
        out.blocks.append(table)
    waits = df["data_wait_share"].dropna()
    if len(waits):
        over = df[df["data_wait_share"] > DATA_WAIT_TARGET]["cell_id"].tolist()
        out.blocks.append(
            Text(
                f"Input pipeline: cells waited on data for {waits.median():.1%} of their step "
                f"time (median; worst {waits.max():.1%}); target under {DATA_WAIT_TARGET:.0%}. "
                + (f"Over target: {', '.join(over)}." if over else "Every cell is under it.")
            )
        )
    loose = df[~df["deterministic"].astype(bool)]
    if len(loose):
        out.blocks.append(
            Text(
                f"Not deterministic: {len(loose)} cell(s) ran with TensorFlow's op determinism "
                "off, because Keras refuses XLA compilation under it; their timings are valid, "
                "but their numbers are not bit-for-bit reproducible: "
                f"{', '.join(loose['cell_id'])}."
            )
        )
    table = precision_table(df)
    if table:
        out.blocks.append(table)
    rss = df["host_peak_rss_bytes"].dropna()
    if len(rss):
        dev = df["device_peak_bytes"].dropna()
        out.blocks.append(
            Text(
                f"Memory: peak host RSS per cell {_mb(rss.min())}-{_mb(rss.max())} MiB (the "
                "process's high-water mark, reset before each cell); "
                + (
                    f"device allocator peak {_mb(dev.min())}-{_mb(dev.max())} MiB."
                    if len(dev)
                    else "no device memory figure (cells ran on the CPU)."
                )
            )
        )
    out.blocks.append(cell_table(df))
    main = df[df["variant"] == df["variant"].iloc[0]]  # one backend per plot: the first one
    for metric, what in (
        ("train_samples_per_s", "Training throughput"),
        ("latency_p50_ms", "Inference latency at batch 1 (p50)"),
        ("utilization", "Utilization of the calibration peak"),
    ):
        spec = METRICS[metric]
        info = tables.MetricInfo(metric, spec.unit, spec.higher_is_better)
        out.figure(
            plots.metric_vs_depth(main, metric, info),
            f"{what} against depth, residual (blue) vs plain (red), backend "
            f"{main['variant'].iloc[0]}. Look for: what each block costs, and whether the skip "
            "connections cost anything at all (they add one addition per block).",
        )
    kws = df[df["task"] == "kws"]
    out.figure(
        quality_vs_latency(kws, "accuracy", True),
        "Keyword spotting: test accuracy against batch-1 latency (log scale); the dashed line "
        "is the Pareto front (no other model is both faster and more accurate), labelled by "
        "depth. Look for: the models on the front, and whether they are residual.",
    )
    asr = df[df["task"] == "asr"]
    out.figure(
        quality_vs_latency(asr, "wer", False),
        "Speech recognition: test WER against batch-1 latency (log scale) with its Pareto front. "
        "Look for: the models on the front, and whether they are residual.",
    )
    return out
