"""The common part of every task's report section: the data, means over seeds per model point,
what the skip connections buy, the headline metric against depth and the validation curves.

Task sections (``reports.kws``, ``reports.asr``) start from ``depth_section`` and add their own
views; a task without a section of its own gets ``depth_section`` over its first metric.
"""

from __future__ import annotations

import json

from reports import answer, plots, tables
from reports.page import Context, Section, Table, Text, spread_block
from results.record import CellResult


def depth_section(
    ctx: Context, task: str, title: str, headline: str | None = None, question: str = ""
) -> Section:
    """The common part of a task's section: data, summary table per experiment, skip gain,
    headline metric vs depth with seed spread, and validation curves."""
    section = Section(task, title)
    results, df = ctx.task_results(task), ctx.df[ctx.df["task"] == task]
    section.blocks.extend(Text(line) for line in dataset_lines(results))
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
        exp_results = [r for r in results if r.cell.experiment == experiment]
        section.blocks.extend(answer.experiment_blocks(ctx, exp_results, headline, experiment))
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
    curves = tables.info_for(ctx.info, "val_accuracy")
    section.figure(
        plots.training_curves(results, "val_accuracy", curves),
        "Validation accuracy per epoch of every cell (colour = depth, solid = residual, dashed = "
        "plain). Look for: flat dashed lines, plain deep nets that train slowly or not at all.",
    )
    return section


def dataset_lines(results: list[CellResult]) -> list[str]:
    """One sentence per experiment: its dataset, options, classes (when labelled) and splits."""
    seen: dict[str, str] = {}
    for r in results:
        exp, data = r.cell.experiment, r.dataset
        if exp in seen or data is None:
            continue
        split = " / ".join(
            f"{data.sizes[s]:,} {s}" for s in ("train", "val", "test") if s in data.sizes
        )
        options = json.dumps(dict(r.cell.dataset_options), sort_keys=True)
        labels = data.extra.get("labels")  # a classification corpus names its classes
        classes = f"{len(labels)} classes, " if labels else ""
        seen[exp] = f"Experiment {exp}: dataset {data.name} {options}, {classes}{split} examples."
    return list(seen.values())
