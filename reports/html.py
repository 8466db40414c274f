"""One self-contained ``report.html`` per run directory: tables, embedded plots, failures, setup.

The page is a list of sections, each built from the run by a small function returning a
``Section`` of blocks (text, tables, figures, preformatted text); the Jinja2 template only lays
them out, with autoescaping on, so error messages and file names can never inject markup. Plots
are embedded as ``data:`` URIs and the CSS is inline: the file reads offline, attached to a mail.

Adding a section:
    * a task: write ``def asr_section(ctx, task) -> Section`` (``depth_section`` does the common
      table + metric-vs-depth + curves part) and register it in ``TASK_SECTIONS``. It is called
      only when the run has cells of that task; a task without a builder still gets the generic
      ``depth_section`` over its first metric.
    * a run-wide view (gradient flow, speed): write ``def grad_section(ctx) -> Section | None``
      (None when the run has no such data) and insert it into ``RUN_SECTIONS``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jinja2

from bench import store
from reports import asr, gradflow, plots, retrieval, speed, tables
from reports.page import Context, Pre, Section, Table, Text, spread_block

TEMPLATES = Path(__file__).parent / "templates"
STATUS_ORDER = ("ok", "diverged", "oom", "error")


# ---- task sections ----------------------------------------------------------------------------


def depth_section(
    ctx: Context, task: str, title: str, headline: str | None = None, question: str = ""
) -> Section:
    """The common part of a task's section: data, summary table per experiment, skip gain,
    headline metric vs depth with seed spread, and validation curves."""
    section = Section(task, title)
    results, df = ctx.task_results(task), ctx.df[ctx.df["task"] == task]
    section.blocks.extend(Text(line) for line in _dataset_lines(results))
    names = [n for n in ctx.info if n in df.columns and df[n].notna().any()]
    headline = headline if headline in names else (names[0] if names else None)
    if headline is None:
        section.blocks.append(
            Text(
                "No cell of this task finished ok, so there are no numbers yet; see the cells "
                "that did not finish below."
            )
        )
        return section
    info = ctx.info[headline]
    for experiment, part in df.groupby("experiment", sort=False):
        summ = tables.summary(part, headline)
        caption = f"{experiment}: {info.label} over seeds per model, depth and kind"
        section.blocks.append(
            Table.from_frame(tables.format_summary(summ, headline, ctx.info), caption)
        )
        gain = tables.skip_gain(summ, info.higher_is_better)
        if len(gain):
            section.blocks.append(
                Table.from_frame(
                    tables.format_gain(gain, headline, ctx.info),
                    f"{experiment}: what the skip connections buy (mean {headline}, residual "
                    "minus plain at the same depth)",
                )
            )
    section.blocks.append(
        Table.from_frame(
            tables.format_cells(df, ctx.info), summary=f"every cell, seed by seed ({len(df)})"
        )
    )
    section.blocks.append(spread_block(df, ctx.info))
    section.figure(
        plots.metric_vs_depth(df, headline, info),
        f"Test {info.label} against depth, residual (blue) vs plain (red): lines join the means "
        f"over seeds, bars are ±1 sd, faint dots single seeds, ✗ a cell that did not finish. "
        f"{question}",
    )
    section.figure(
        plots.training_curves(results, "val_accuracy", ctx.info.get("val_accuracy")),
        "Validation accuracy per epoch of every cell (colour = depth, solid = residual, dashed = "
        "plain). Look for: flat dashed lines, plain deep nets that train slowly or not at all.",
    )
    return section


def kws_section(ctx: Context, task: str) -> Section:
    """Keyword spotting: accuracy vs depth, and the confusion matrix of the best residual cell."""
    section = depth_section(
        ctx,
        task,
        "Keyword spotting",
        "accuracy",
        "Look for: does accuracy rise with depth for residual nets and fall (or stall) for plain "
        "ones? The gap at the deepest point is what the skip connections buy.",
    )
    retrieval.qbe_blocks(ctx, task, section)
    results = ctx.task_results(task)
    best = tables.best_cell(results, "accuracy") or tables.best_cell(results, "accuracy", None)
    if best:
        acc = best["metrics"]["accuracy"]["value"]
        section.figure(
            plots.confusion_matrix(best),
            f"Test confusion matrix of the best {tables.kind_of(best)} cell, "
            f"{best['cell']['id']} (accuracy {acc:.3f}); rows are the true words, normalized. "
            "Look for: off-diagonal cells, the words the model confuses.",
        )
    return section


# Defaults for a task that has cells but no builder of its own yet (see ``depth_section``).
TASK_TITLES = {"kws": "Keyword spotting", "asr": "Speech recognition", "retrieval": "Retrieval"}
TASK_HEADLINES = {"kws": "accuracy", "asr": "wer", "retrieval": "map"}
TASK_SECTIONS: dict[str, Callable[[Context, str], Section | None]] = {
    "kws": kws_section,
    "asr": asr.section,
    "timing": lambda ctx, task: None,  # speed-only cells: shown in the speed section
}


def _dataset_lines(results: list[dict]) -> list[str]:
    seen: dict[str, str] = {}
    for r in results:
        cell, data = r.get("cell") or {}, r.get("dataset") or {}
        exp = cell.get("experiment", "?")
        if exp in seen or not data:
            continue
        sizes = data.get("sizes") or {}
        split = " / ".join(f"{sizes[s]:,} {s}" for s in ("train", "val", "test") if s in sizes)
        options = json.dumps(cell.get("dataset_options") or {}, sort_keys=True)
        seen[exp] = (
            f"Experiment {exp}: dataset {data.get('name', cell.get('dataset'))} {options}, "
            f"{len(data.get('labels') or [])} classes, {split} examples."
        )
    return list(seen.values())


# ---- run-wide sections ------------------------------------------------------------------------


def _cell_id(result: dict) -> str:
    return str((result.get("cell") or {}).get("id", "?"))


def failures_section(ctx: Context) -> Section | None:
    """Cells that diverged, ran out of memory or failed, with their error."""
    bad = [r for r in ctx.results if r.get("status") != "ok"]
    section = Section("failures", "Cells that did not finish ok")
    if not bad:
        section.blocks.append(Text("Every cell finished ok."))
        return section
    rows = [
        [
            _cell_id(r),
            str(r.get("status")),
            "–" if r.get("diverged_step") is None else str(r["diverged_step"]),
            str(r.get("error", "")),
        ]
        for r in bad
    ]
    section.blocks.append(
        Table(
            ["cell", "status", "diverged at step", "error"],
            rows,
            numeric=[False, False, True, False],
        )
    )
    for r in bad:
        if r.get("traceback"):
            section.blocks.append(Pre(r["traceback"], f"traceback of {_cell_id(r)}"))
    return section


def skipped_section(ctx: Context) -> Section | None:
    """Input files the loaders skipped (never dropped silently), per cell and reason."""
    section = Section("skipped", "Skipped input files")
    rows, files = [], {}
    for r in ctx.results:
        skipped = (r.get("dataset") or {}).get("skipped") or {}
        if not skipped.get("count"):
            continue
        reasons = "; ".join(f"{k}: {v}" for k, v in (skipped.get("by_reason") or {}).items())
        rows.append(
            [_cell_id(r), str(r["dataset"].get("name", "")), str(skipped["count"]), reasons]
        )
        for f in skipped.get("files") or []:
            files.setdefault(r["dataset"].get("name", ""), {})[f.get("file")] = f.get("reason")
    if not rows:
        section.blocks.append(Text("No input file was skipped."))
        return section
    section.blocks.append(
        Table(
            ["cell", "dataset", "skipped files", "by reason"],
            rows,
            numeric=[False, False, True, False],
        )
    )
    for name, listed in files.items():
        text = "\n".join(f"{f}: {reason}" for f, reason in listed.items())
        section.blocks.append(Pre(text, f"files skipped from {name} ({len(listed)} listed)"))
    return section


def environment_section(ctx: Context) -> Section | None:
    """Versions, CPU and backend the cells ran on (one table per distinct environment)."""
    section = Section("environment", "Environment")
    envs = Counter(json.dumps(r.get("environment") or {}, sort_keys=True) for r in ctx.results)
    seeds = ", ".join(map(str, ctx.suite.get("seeds", []))) or "–"
    for text, n in envs.most_common():
        env = json.loads(text)
        rows = [
            [k, str(env[k])]
            for k in ("backend", "python", "platform", "cpu", "cpu_count", "gpu")
            if k in env
        ]
        rows += [[f"package {k}", str(v)] for k, v in sorted((env.get("packages") or {}).items())]
        rows.append(["seeds", seeds])
        caption = f"{n} cell{'s' if n != 1 else ''}" if len(envs) > 1 else ""
        section.blocks.append(Table(["", "value"], rows, caption))
    if not envs:
        section.blocks.append(Text(f"No cell has finished yet. Seeds: {seeds}."))
    return section


def config_section(ctx: Context) -> Section | None:
    """The resolved suite, as the runner stored it."""
    section = Section("config", "Suite configuration")
    if ctx.suite:
        section.blocks.append(Pre(json.dumps(ctx.suite, indent=2, sort_keys=False)))
    else:
        section.blocks.append(Text(f"No suite.json in {ctx.run_dir}."))
    return section


RUN_SECTIONS: list[Callable[[Context], Section | None]] = [
    retrieval.section,
    gradflow.section,
    speed.section,
    failures_section,
    skipped_section,
    environment_section,
    config_section,
]


# ---- page ------------------------------------------------------------------------------------


def build_sections(ctx: Context) -> list[Section]:
    """Task sections (in order of first appearance), then the run-wide ones."""
    sections = []
    for task in ctx.tasks():
        if task in TASK_SECTIONS:
            section = TASK_SECTIONS[task](ctx, task)
            if section is not None:
                sections.append(section)
        else:
            title = TASK_TITLES.get(task, f"Task {task}")
            sections.append(depth_section(ctx, task, title, TASK_HEADLINES.get(task)))
    sections += [s for s in (build(ctx) for build in RUN_SECTIONS) if s is not None]
    return sections


def _when(ts) -> str:
    if not isinstance(ts, (int, float)):
        return "–"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def header(ctx: Context) -> dict:
    """The page header: suite, when the cells ran, and how many ended in each status."""
    counts = Counter(r.get("status", "error") for r in ctx.results)
    order = [s for s in STATUS_ORDER if s in counts] + sorted(set(counts) - set(STATUS_ORDER))
    started = [r["started"] for r in ctx.results if isinstance(r.get("started"), (int, float))]
    finished = [r["finished"] for r in ctx.results if isinstance(r.get("finished"), (int, float))]
    return {
        "name": ctx.suite.get("name") or ctx.run_dir.name,
        "description": ctx.suite.get("description", ""),
        "run_dir": str(ctx.run_dir),
        "started": _when(min(started, default=None)),
        "finished": _when(max(finished, default=None)),
        "generated": _when(dt.datetime.now(dt.timezone.utc).timestamp()),
        "cells": len(ctx.results),
        "statuses": [(s, counts[s]) for s in order],
        "no_ok": counts["ok"] == 0,
    }


def render(ctx: Context, sections: list[Section]) -> str:
    """The report page as an HTML string."""
    return render_page(header(ctx), sections)


def render_page(head: dict, sections: list[Section]) -> str:
    """A page of ``sections`` under ``head`` (the keys of ``header``), as an HTML string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(head=head, sections=sections)


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Render ``run_dir``'s results into one self-contained HTML file (atomically written).

    Args:
        run_dir: a run directory (``suite.json`` and ``cells/*.json``).
        out: where to write; default ``run_dir/report.html``.

    Returns:
        The path written.

    Raises:
        bench.store.ResultsError: a results file cannot be parsed (the message names it).
    """
    ctx = Context.load(Path(run_dir))
    out = Path(out) if out is not None else ctx.run_dir / "report.html"
    store.write_atomic(out, render(ctx, build_sections(ctx)))
    return out
