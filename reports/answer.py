"""The report's first section, the answer: what the skip connections buy at each depth, with
95% intervals, and the comparison tables (paired by seed) the task sections show.

The statistics are ``results.stats``'s (mean difference paired by seed with a t-interval over
seeds; one seed: the per-example paired bootstrap on the test set, a hint rather than a
finding); this module only lays them out: a table per task and one sentence per depth.
"""

from __future__ import annotations

import pandas as pd

from reports import plots, tables
from reports.page import Context, Section, Table, Text
from results import noise, stats
from results.record import CellResult

# The metrics the answer is given in, per task; a task not listed answers in its first metric.
HEADLINES: dict[str, tuple[str, ...]] = {
    "kws": ("accuracy", "qbe_map"),
    "asr": ("wer", "std_map"),
    "timing": (),
    "timing-asr": (),
}
TASK_NAMES = {"kws": "Keyword spotting", "asr": "Speech recognition"}
COLUMNS = [
    "model",
    "depth (blocks)",
    "metric",
    "a",
    "b",
    "a − b",
    "95% CI",
    "seeds",
    "interval",
    "verdict",
]


def _fmt(value, unit: str) -> str:
    return tables.format_value(value, unit)


def _signed(value: float, unit: str) -> str:
    return f"{value:+.3f}" if unit == "fraction" else f"{value:+.4g}"


def ci_text(est: stats.Estimate, unit: str) -> str:
    """``[low, high]`` of an estimate in the metric's unit, or ``–``."""
    if est.halfwidth is None:
        return "–"
    return f"[{_signed(est.low, unit)}, {_signed(est.high, unit)}]"


def _model(c: stats.Contrast) -> str:
    width = "" if c.width in (None, 1.0) else f" ×{c.width:g}"
    return f"{c.experiment}: {c.preset}{width}"


def _verdict(c: stats.Contrast) -> str:
    words = {
        stats.SKIPS: ("skips help", "skips hurt"),
        stats.DEPTH: ("deeper is better", "deeper is worse"),
        stats.BLOCK: (f"{c.a.split(',')[0]} better", f"{c.b.split(',')[0]} better"),
    }[c.kind]
    verdict = c.verdict
    text = {"a better": words[0], "b better": words[1]}.get(verdict, verdict)
    return text if c.estimate.over_seeds or verdict == "no interval" else f"{text} (hint)"


def side(label: str, mean: stats.Estimate | None, unit: str) -> str:
    """A compared point: its label and mean (± sd over seeds when it has several)."""
    if mean is None:
        return label
    sd = f" ± {_fmt(mean.sd, unit)} sd" if mean.sd is not None else ""
    return f"{label}: {_fmt(mean.value, unit)}{sd}"


def contrast_table(found: list[stats.Contrast], info: dict, caption: str, summary: str = ""):
    """Comparisons as a table: a − b with its 95% CI, seeds, interval method and verdict."""
    rows = []
    for c in found:
        unit = tables.info_for(info, c.metric).unit
        est = c.estimate
        rows.append(
            [
                _model(c),
                "–" if c.depth is None else str(c.depth),
                tables.info_for(info, c.metric).label,
                side(c.a, c.a_mean, unit),
                side(c.b, c.b_mean, unit),
                _signed(est.value, unit),
                ci_text(est, unit),
                str(est.n),
                est.method,
                _verdict(c),
            ]
        )
    numeric = [False, True, False, False, False, True, False, True, False, False]
    return Table(COLUMNS, rows, caption, numeric, summary)


def sentence(c: stats.Contrast, info: dict) -> str:
    """One sentence of the answer: the verdict at one depth, with its interval."""
    unit = tables.info_for(info, c.metric).unit
    est = c.estimate
    verdict = {"a better": "skips help", "b better": "skips hurt"}.get(
        c.verdict, "no detectable difference" if est.halfwidth is not None else "no interval"
    )
    ci = ci_text(est, unit)
    where = f"{_model(c)} at {c.depth} block{'s' if c.depth != 1 else ''}"
    diff = f"{c.metric} residual − plain {_signed(est.value, unit)}"
    if est.over_seeds:
        return (
            f"{where}: {verdict} at this budget ({diff}, 95% CI {ci} over {est.n} seeds, "
            "paired by seed)."
        )
    if est.halfwidth is None:
        return f"{where}: {diff} from one seed, with no interval: not evidence either way."
    return (
        f"{where}: {verdict} at this budget ({diff}, 95% CI {ci}, one seed: "
        "the test set's noise only, so a hint, not a finding)."
    )


def headlines(task: str, results: list[CellResult]) -> tuple[str, ...]:
    """The answer's metrics for ``task``, those its cells recorded."""
    names = HEADLINES.get(task)
    recorded = {n for r in results if r.ok for n in r.metrics}
    if names is None:
        first = next((n for r in results if r.ok for n in r.metrics), None)
        names = (first,) if first else ()
    return tuple(n for n in names if n in recorded)


MAX_PANELS = 6  # the first screen: more ladders than this are in the task sections


def points(ctx: Context) -> pd.DataFrame:
    """The picture's data: per task, every model ladder that compares residual with plain (an
    experiment and preset), the first headline metric of each kind at each depth, with its 95%
    interval: over seeds (t), or for one seed the test set's (``results.noise``)."""
    rows = []
    for task in ctx.tasks():
        results = ctx.task_results(task)
        names = headlines(task, results)
        if not names:
            continue
        metric, label = names[0], tables.info_for(ctx.info, names[0]).label
        ladders = {
            (c.experiment, c.preset)
            for c in stats.contrasts(results, metric)
            if c.kind == stats.SKIPS
        }
        for key, cells in stats.by_point(results).items():
            d = dict(key)
            if (d["experiment"], d["preset"]) not in ladders or d["depth"] is None:
                continue
            est = stats.point_mean(cells, metric)
            if est is None:
                continue
            low, high = est.low, est.high
            if not est.over_seeds:
                (only,) = cells.values()
                found = noise.intervals(only, [metric]).get(metric)
                if found is not None:
                    low, high = est.value - found.halfwidth, est.value + found.halfwidth
            name = TASK_NAMES.get(task, f"Task {task}")
            rows.append(
                {
                    "panel": f"{name}: {d['preset']} ({d['experiment']})",
                    "label": label,
                    "kind": next(iter(cells.values())).cell.kind,
                    "depth": d["depth"],
                    "value": est.value,
                    "low": low,
                    "high": high,
                    "over_seeds": est.over_seeds,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    keep = list(dict.fromkeys(df["panel"]))[:MAX_PANELS]
    return df[df["panel"].isin(keep)]


def section(ctx: Context) -> Section | None:
    """The answer: per task, residual − plain of the headline metrics at every depth."""
    out = Section("answer", "The answer: what the skip connections buy at each depth")
    found_by_task = {}
    for task in ctx.tasks():
        results = ctx.task_results(task)
        for metric in headlines(task, results):
            found = [c for c in stats.contrasts(results, metric) if c.kind == stats.SKIPS]
            if found:
                found_by_task.setdefault(task, []).append((metric, found))
    any_table = bool(found_by_task)
    if any_table:
        out.figure(
            plots.answer(points(ctx)),
            "The answer in one picture: each task's headline metric against depth, residual, "
            "plain and ReZero, the mean and its 95% interval over seeds (filled markers; a "
            "hollow marker is one seed, whose bar is the test set's interval only, a hint). "
            "Look for the depth where plain falls away from residual.",
            alt="headline metric against depth per kind, with 95% intervals",
        )
        seeds = ctx.df.loc[ctx.df["status"] == "ok", "seed"].nunique()
        if seeds <= 1:
            out.blocks.append(
                Text(
                    "This run has one seed per model point, so the spread over retraining is not "
                    "measured: each interval below is the test set's (a per-example paired "
                    "bootstrap, or a normal approximation), and every statement is a hint, not a "
                    "finding. Run three or more seeds for a finding."
                )
            )
        names = "; ".join(
            f"{TASK_NAMES.get(task, task)}: {tables.info_for(ctx.info, pairs[0][0]).label}"
            for task, pairs in found_by_task.items()
        )
        first = [c for pairs in found_by_task.values() for c in pairs[0][1]]
        out.blocks.append(
            contrast_table(
                first,
                ctx.info,
                "Residual − plain at each depth, paired by seed (a = residual, b = plain), in "
                f"each task's headline metric ({names})",
            )
        )
        out.blocks.extend(Text(sentence(c, ctx.info)) for c in first)
        for task, pairs in found_by_task.items():
            for metric, found in pairs[1:]:
                label = tables.info_for(ctx.info, metric).label
                caption = (
                    f"{TASK_NAMES.get(task, f'Task {task}')}: residual − plain {label} at each "
                    "depth, paired by seed (a = residual, b = plain)"
                )
                summary = f"{TASK_NAMES.get(task, task)}: residual − plain in {label}"
                out.blocks.append(contrast_table(found, ctx.info, caption, summary=summary))
    if not any_table:
        out.blocks.append(
            Text("No residual cell has a plain counterpart that finished ok: nothing to compare.")
        )
    return out


def experiment_blocks(ctx: Context, results: list[CellResult], metric: str, experiment: str):
    """A task section's comparison tables for one experiment and metric: residual − plain per
    depth, and (collapsed) depth vs depth and block variant vs block variant."""
    found = stats.contrasts(results, metric)
    skips = [c for c in found if c.kind == stats.SKIPS]
    others = [c for c in found if c.kind != stats.SKIPS]
    blocks = []
    if skips:
        blocks.append(
            contrast_table(
                skips,
                ctx.info,
                f"{experiment}: what the skip connections buy in {metric} (residual − plain at "
                "the same depth, paired by seed, 95% CI)",
            )
        )
    if others:
        blocks.append(
            contrast_table(
                others,
                ctx.info,
                f"{experiment}: {metric}, each depth against the next shallower one of the same "
                "kind, and each block variant against the post-activation block (paired by "
                "seed, 95% CI)",
                summary=f"{experiment}: depth vs depth and block vs block in {metric} "
                f"({len(others)} comparisons)",
            )
        )
    return blocks
