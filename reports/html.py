"""One self-contained ``report.html`` per run directory: tables, embedded plots, failures, setup.

The page is a list of sections, each built from the run by a small function returning a
``Section`` of blocks (text, tables, figures, preformatted text); the Jinja2 template only lays
them out, with autoescaping on, so error messages and file names can never inject markup. Plots
are embedded as ``data:`` URIs and the CSS is inline: the file reads offline, attached to a mail.

Adding a section:
    * a task: write ``def section(ctx, task) -> Section`` in ``reports/<task>.py``
      (``reports.depth.depth_section`` does the common table + metric-vs-depth + curves part) and
      register it in ``TASK_SECTIONS``. It is called only when the run has cells of that task; a
      task without a builder still gets the generic ``depth_section`` over its first metric.
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

from reports import answer, asr, folds, gradflow, kws, retrieval, speed
from reports.depth import depth_section
from reports.page import Context, Pre, Section, Table, Text
from results import provenance, store
from results.record import STATUSES

TEMPLATES = Path(__file__).parent / "templates"


# ---- task sections ----------------------------------------------------------------------------

# A task's section builder; a task without one gets ``depth_section`` over its first metric.
TASK_SECTIONS: dict[str, Callable[[Context, str], Section | None]] = {
    "kws": kws.section,
    "asr": asr.section,
    "timing": lambda ctx, task: None,  # speed-only cells: shown in the speed section
    "timing-asr": lambda ctx, task: None,
}


# ---- run-wide sections ------------------------------------------------------------------------


def failures_section(ctx: Context) -> Section | None:
    """Cells that diverged, ran out of memory or failed, with their error."""
    bad = [r for r in ctx.results if not r.ok]
    section = Section("failures", "Cells that did not finish ok")
    if not bad:
        section.blocks.append(Text("Every cell finished ok."))
        return section
    rows = [
        [
            r.id,
            r.status,
            "–" if r.diverged_step is None else str(r.diverged_step),
            r.error or "",
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
        if r.traceback:
            section.blocks.append(Pre(r.traceback, f"traceback of {r.id}"))
    return section


def skipped_section(ctx: Context) -> Section | None:
    """Input files the loaders skipped (never dropped silently), per cell and reason."""
    section = Section("skipped", "Skipped input files")
    rows, files = [], {}
    for r in ctx.results:
        data = r.dataset
        if data is None or not data.skipped_count:
            continue
        reasons = "; ".join(f"{k}: {v}" for k, v in data.skipped.get("by_reason", {}).items())
        rows.append([r.id, data.name, str(data.skipped_count), reasons])
        for f in data.skipped.get("files", []):
            files.setdefault(data.name, {})[f["file"]] = f["reason"]
    capped = _length_caps(ctx)
    if not rows:
        section.blocks.append(Text("No input file was skipped." + capped))
        return section
    if capped:
        section.blocks.append(Text(capped.strip()))
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


def _length_caps(ctx: Context) -> str:
    """A sentence per corpus with a length cap: how many training utterances it left out, and
    that dev and test were scored whole (caps apply to training only)."""
    said = {}
    for r in ctx.results:
        extra = r.dataset.extra if r.dataset is not None else {}
        if extra.get("max_seconds") is not None and "too_long" in extra:
            left_out = extra["too_long"].get("train", 0)
            said[r.dataset.name] = (
                f" {r.dataset.name}: {left_out} training utterances longer than "
                f"max_seconds={extra['max_seconds']} left out (not bad data); the cap applies "
                "to training only, dev and test are scored whole."
            )
    return "".join(said.values())


def environment_section(ctx: Context) -> Section | None:
    """Versions, CPU and backend the cells ran on (one table per distinct environment)."""
    section = Section("environment", "Environment")
    envs = Counter(json.dumps(dict(r.environment), sort_keys=True) for r in ctx.results)
    seeds = ", ".join(map(str, ctx.suite.get("seeds", []))) or "–"
    for text, n in envs.most_common():
        env = json.loads(text)
        rows = [
            [k, str(env[k])]
            for k in ("backend", "python", "platform", "cpu", "cpu_count", "gpu")
            if k in env
        ]
        rows += [[f"package {k}", str(v)] for k, v in sorted(env.get("packages", {}).items())]
        rows.append(["seeds", seeds])
        rows += provenance.rows(ctx.provenance)
        caption = f"{n} cell{'s' if n != 1 else ''}" if len(envs) > 1 else ""
        section.blocks.append(Table(["", "value"], rows, caption))
    if not envs:
        section.blocks.append(Text(f"No cell has finished yet. Seeds: {seeds}."))
        if ctx.provenance:
            section.blocks.append(Table(["", "value"], provenance.rows(ctx.provenance), ""))
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
    folds.section,
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
    """The answer, the task sections (in order of first appearance), then the run-wide ones."""
    sections = [answer.section(ctx)]
    for task in ctx.tasks():
        if task in TASK_SECTIONS:
            section = TASK_SECTIONS[task](ctx, task)
            if section is not None:
                sections.append(section)
        else:
            sections.append(depth_section(ctx, task, f"Task {task}"))
    sections += [s for s in (build(ctx) for build in RUN_SECTIONS) if s is not None]
    return sections


def _when(ts: float | None) -> str:
    if not ts:
        return "–"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _machine(results) -> str:
    """Where the run's wall time was measured: cores, CPU and the calibration peak (median over
    cells), so a time is never quoted without its machine."""
    env = next((r.environment for r in results if r.environment), {}) or {}
    peaks = sorted(r.speed.peak_gflops for r in results if r.speed and r.speed.peak_gflops)
    parts = []
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} cores" + (f" ({env['cpu']})" if env.get("cpu") else ""))
    if peaks:
        parts.append(f"calibration peak {peaks[len(peaks) // 2]:.1f} GFLOP/s (median over cells)")
    return ", ".join(parts) or "machine not recorded"


def header(ctx: Context) -> dict:
    """The page header: suite, when the cells ran, and how many ended in each status."""
    counts = Counter(r.status for r in ctx.results)
    order = [s for s in STATUSES if s in counts]
    started = [r.started for r in ctx.results if r.started]
    finished = [r.finished for r in ctx.results if r.finished]
    first, last = min(started, default=None), max(finished, default=None)
    return {
        "wall": _duration(last - first) if first and last else "–",
        "machine": _machine(ctx.results),
        "name": ctx.suite.get("name") or ctx.run_dir.name,
        "description": ctx.suite.get("description", ""),
        "run_dir": str(ctx.run_dir),
        "started": _when(min(started, default=None)),
        "finished": _when(max(finished, default=None)),
        "generated": _when(dt.datetime.now(dt.UTC).timestamp()),
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


FOLDS_TABLE = "tables/folds.md"  # under the run directory, when the run has speaker folds


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Render ``run_dir``'s results into one self-contained HTML file (atomically written).

    Args:
        run_dir: a run directory (``suite.json`` and ``cells/*.json``).
        out: where to write; default ``run_dir/report.html``. A run with held-out-speaker
            folds also gets ``run_dir/tables/folds.md`` (``reports.folds.markdown``).

    Returns:
        The path written.

    Raises:
        results.store.ResultsError: a results file cannot be parsed or has a schema this
            version does not read (the message names it).
    """
    ctx = Context.load(Path(run_dir))
    out = Path(out) if out is not None else ctx.run_dir / "report.html"
    store.write_atomic(out, render(ctx, build_sections(ctx)))
    held_out = folds.fold_frame(ctx.results)
    if not held_out.empty:  # the README's held-out-speaker table, as Markdown
        store.write_atomic(ctx.run_dir / FOLDS_TABLE, folds.markdown(held_out))
    return out
