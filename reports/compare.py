"""A comparison page between two runs: ``python -m bench report RUN_A --compare RUN_B``.

Run B is the reference: every (cell, metric) that ``results.check`` checks is judged with the same
tolerances and directions as the regression gate, so the page and ``bench check`` agree. The page
has the table of differences (sortable), a run-B-against-run-A scatter per metric, and what
differs between the two runs' environments and suites.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from reports import html, plots  # noqa: E402
from reports.page import Context, Section, Table, Text  # noqa: E402
from results import check, store  # noqa: E402

VERDICT_ORDER = {"REGRESSED": 0, "FAILED": 0, "MISSING": 0, "better": 1, "new": 2, "ok": 3}


def differences_section(rows: list[check.Row], name_a: str, name_b: str) -> Section:
    """Every checked (cell, metric) of B against A, failures first."""
    section = Section("differences", f"{name_a} against {name_b}")
    counts = Counter(r.verdict for r in rows)
    section.blocks.append(
        Text(
            f"{check.verdict_line(rows)}. Verdicts: "
            + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
            + f". Tolerances and directions are those of 'bench check', with {name_b} as the "
            "baseline; throughput is normalized by each run's median calibration peak when both "
            "have one."
        )
    )
    ordered = sorted(rows, key=lambda r: (VERDICT_ORDER.get(r.verdict, 9), r.cell, r.metric))
    body = check.table_rows(ordered)
    header = list(check.HEADER)
    header[2], header[3] = f"{name_b} (reference)", name_a
    section.blocks.append(
        Table(header, body, "Every checked metric of every cell.", [0, 0, 1, 1, 1, 0, 0])
    )
    return section


def scatter(rows: list[check.Row], name_a: str, name_b: str) -> bytes | None:
    """One panel per metric: run B's value (x) against run A's (y), the diagonal = no change."""
    pairs = [r for r in rows if r.baseline is not None and r.now is not None]
    metrics = list(dict.fromkeys(r.metric for r in pairs))
    if not metrics:
        return None
    with sns.axes_style("whitegrid"), plt.rc_context({"font.size": 8, "axes.titlesize": 9}):
        fig, axes = plots._panels(len(metrics), 3.0, 2.8)
        for ax, metric in zip(axes, metrics, strict=True):
            part = [r for r in pairs if r.metric == metric]
            bad = [r.failed for r in part]
            xs, ys = [r.baseline for r in part], [r.now for r in part]
            ax.scatter(xs, ys, c=["#d6452a" if b else "#1f6fb4" for b in bad], s=18)
            lo, hi = min(xs + ys), max(xs + ys)
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#9aa4ad", lw=1, ls="--")
            unit = f" ({part[0].unit})" if part[0].unit else ""
            ax.set_xlabel(f"{name_b}{unit}")
            ax.set_ylabel(f"{name_a}{unit}")
            ax.set_title(metric)
        fig.tight_layout()
        return plots.to_png(fig)


def runs_section(a: Context, b: Context) -> Section:
    """Suite and environment of each run, side by side, differing lines marked."""
    section = Section("runs", "The two runs")
    rows = []

    def env(ctx: Context) -> dict:
        first = next((dict(r.environment) for r in ctx.results if r.environment), {})
        packages = first.pop("packages", {})
        return {**first, **{f"package {k}": v for k, v in packages.items()}}

    ea, eb = env(a), env(b)
    facts_a = {"run directory": str(a.run_dir), "cells": len(a.results), **ea}
    facts_b = {"run directory": str(b.run_dir), "cells": len(b.results), **eb}
    facts_a["seeds"], facts_b["seeds"] = a.suite.get("seeds"), b.suite.get("seeds")
    for key in dict.fromkeys([*facts_a, *facts_b]):
        va, vb = str(facts_a.get(key, "–")), str(facts_b.get(key, "–"))
        rows.append([key, va, vb, "" if va == vb else "differs"])
    section.blocks.append(Table(["", "run A", "run B (reference)", ""], rows))
    same = json.dumps(a.suite.get("experiments"), sort_keys=True) == json.dumps(
        b.suite.get("experiments"), sort_keys=True
    )
    section.blocks.append(
        Text(
            "The two runs used the same suite definition."
            if same
            else "The suite definitions differ: cells only in one run are listed as missing "
            "or new above."
        )
    )
    return section


def write_compare(run_a: Path, run_b: Path, out: Path | None = None) -> Path:
    """Write the comparison page of ``run_a`` against ``run_b`` (the reference).

    Returns:
        The path written: ``out`` or ``run_a/compare-<run_b name>.html``.

    Raises:
        results.store.ResultsError: a results file of either run cannot be parsed (named).
    """
    a, b = Context.load(Path(run_a)), Context.load(Path(run_b))
    rows = check.compare(check.make_baseline(b.run_dir), a.results)
    name_a, name_b = f"A: {a.run_dir.name}", f"B: {b.run_dir.name}"
    diff = differences_section(rows, name_a, name_b)
    diff.figure(
        scatter(rows, name_a, name_b),
        f"Every checked metric of every cell, {name_b} (x) against {name_a} (y); the dashed "
        "diagonal is no change, red points fail the check. Look for: points far from the "
        "diagonal on the worse side (below it for accuracy, mAP and samples/s, above it for "
        "WER, CER and latency).",
    )
    sections = [diff, runs_section(a, b)]
    head = html.header(a)
    head.update(
        name=f"{head['name']}: comparison with {b.run_dir.name}",
        description=f"Run A ({a.run_dir}) against the reference run B ({b.run_dir}).",
    )
    out = Path(out) if out is not None else a.run_dir / f"compare-{b.run_dir.name}.html"
    store.write_atomic(out, html.render_page(head, sections))
    return out
