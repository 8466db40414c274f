"""The report's retrieval views: query-by-example (kws cells) and spoken term detection (asr cells).

Each adds to its task's section: mAP against depth beside the task's headline metric (accuracy
or WER), what the skip connections buy in mAP, the precision-recall curve of the best cell, and
for QbE the search back ends' speed, for STD the five hardest terms.

``section`` is the run-wide retrieval section: per task, a table of every ``qbe_*``/``std_*``
metric (means over seeds per model point), the seed spread, and mAP against depth, residual vs
plain. ``qbe_blocks`` and ``std_blocks`` put the detail (PR curve, search speed, hardest terms)
beside accuracy and WER in the task sections.
"""

from __future__ import annotations

from reports import answer, plots, tables
from reports.page import Context, Section, Table, Text, spread_block
from results.record import CellResult


def _summary_tables(ctx: Context, task: str, metric: str, beside: str, what: str) -> list[Table]:
    """Per experiment: ``metric`` over seeds beside ``beside``, and residual minus plain."""
    df = ctx.df[ctx.df["task"] == task]
    out = []
    for experiment, part in df.groupby("experiment", sort=False):
        if metric not in part.columns or part[metric].isna().all():
            continue
        summ = tables.summary(part, metric, extras=(beside,))
        out.append(
            Table.from_frame(
                tables.format_summary(summ, metric, ctx.info),
                f"{experiment}: {what} ({metric}) beside {beside}, over seeds per model and depth",
            )
        )
        results = [r for r in ctx.task_results(task) if r.cell.experiment == experiment]
        out.extend(answer.experiment_blocks(ctx, results, metric, experiment))
    return out


def search_table(result: CellResult) -> Table | None:
    """Queries/s of each search back end over one cell's test embeddings, IVF recall@10.

    Reads ``evaluation["retrieval"]["search_speed"]`` (``bench.search.compare``'s output).
    """
    speed = result.evaluation.get("retrieval", {}).get("search_speed")
    if not speed or not speed["backends"]:
        return None
    backends = speed["backends"]
    recall = speed.get("ivf_recall_at_k")
    rows = [
        [
            name,
            tables.format_value(b["queries_per_s"], "samples/s"),
            f"{b['build_seconds']:.3f}",
            f"{b['index_bytes']:,}",
            tables.format_value(recall, "fraction") if name == "faiss-ivf" else "exact",
        ]
        for name, b in backends.items()
    ]
    return Table(
        ["back end", "queries/s", "build (s)", "index bytes", "recall@10 vs exact"],
        rows,
        f"Top-{speed['k']} search of {speed['queries']} queries over "
        f"{speed['collection']} test embeddings of {result.id}; the machine "
        "is shared, so speeds are indicative (see bench/benchmarks/test_search_scale.py for "
        "1,000,000 items).",
        numeric=[False, True, True, True, True],
    )


def qbe_blocks(ctx: Context, task: str, section: Section) -> None:
    """QbE beside accuracy, the best cell's precision-recall curves and search speeds."""
    df = ctx.df[ctx.df["task"] == task]
    metric = next(
        (m for m in ("qbe_si_map", "qbe_map") if m in df.columns and df[m].notna().any()), None
    )
    if metric is None:
        return
    section.blocks.extend(_summary_tables(ctx, task, metric, "accuracy", "QbE mAP"))
    best = tables.best_cell(ctx.task_results(task), metric) or tables.best_cell(
        ctx.task_results(task), metric, None
    )
    if not best:
        return
    ret = best.evaluation.get("retrieval", {})
    section.figure(
        plots.pr_curves(
            {
                "all other test items": ret.get("pr_curve"),
                "same-speaker items removed": ret.get("si_pr_curve"),
            },
            best.id,
        ),
        f"Query-by-example precision-recall of the best {best.kind} cell by {metric}, "
        f"{best.id} ({metric} {best.value(metric):.3f}): interpolated "
        "precision averaged over queries. Look for: how much precision is kept at high recall, "
        "and the gap the speaker's own items make.",
    )
    table = search_table(best)
    if table:
        section.blocks.append(table)


def hardest_table(result: CellResult, n: int = 5) -> Table | None:
    """The ``n`` terms with the lowest AP in one cell's spoken term detection
    (``evaluation["term_detection"]``, ``bench.tasks.asr.term_detection.detect``'s output)."""
    std = result.evaluation.get("term_detection")
    if not std or not std["per_term"]:
        return None
    rows = sorted(std["per_term"], key=lambda t: (t["ap"], t["relevant"], t["term"]))
    return Table(
        ["term", "AP", "relevant test utterances"],
        [[t["term"], f"{t['ap']:.3f}", str(t["relevant"])] for t in rows[:n]],
        f"The {min(n, len(rows))} hardest of {std['terms']} terms of {result.id} "
        f"(lowest spoken-term-detection AP; {std['terms_without_relevant']} more terms "
        "never occur in the test transcripts and are not scored).",
        numeric=[False, True, True],
    )


def std_blocks(ctx: Context, task: str, section: Section) -> None:
    """Spoken term detection: mAP against depth beside WER, PR curve and hardest terms."""
    df = ctx.df[ctx.df["task"] == task]
    if "std_map" not in df.columns or df["std_map"].isna().all():
        return
    section.blocks.append(
        Text(
            "Spoken term detection: each word of the training vocabulary is a text query; every "
            "test utterance is scored by the best CTC alignment of the word (between spaces or "
            "utterance edges) in its frame posteriors, and relevant means its transcript says "
            "the word. mAP is the mean over words of average precision."
        )
    )
    section.figure(
        plots.metric_vs_depth(df, "std_map", ctx.info["std_map"]),
        "Spoken term detection mAP against depth, residual vs plain, ±1 sd over seeds. Look for: "
        "whether the posteriors locate words better with depth even where WER barely moves.",
    )
    section.blocks.extend(_summary_tables(ctx, task, "std_map", "wer", "STD mAP"))
    best = tables.best_cell(ctx.task_results(task), "std_map") or tables.best_cell(
        ctx.task_results(task), "std_map", None
    )
    if not best:
        return
    wer = best.value("wer")
    section.figure(
        plots.pr_curves(
            {"spoken term detection": best.evaluation.get("term_detection", {}).get("pr_curve")},
            best.id,
        ),
        f"Spoken term detection precision-recall of the best {best.kind} cell, "
        f"{best.id} (mAP {best.value('std_map'):.3f}, WER "
        f"{float('nan') if wer is None else wer:.3f}): interpolated "
        "precision averaged over terms. Look for: where precision falls; the hardest terms "
        "below are the ones that pull it down.",
    )
    table = hardest_table(best)
    if table:
        section.blocks.append(table)


PREFIXES = ("qbe_", "std_")
WHAT = {"qbe_": "query-by-example retrieval", "std_": "spoken-term detection"}


def retrieval_metrics(ctx: Context, task: str | None = None) -> list[str]:
    """Names of the retrieval metrics the run's ok cells recorded, in order of appearance."""
    df = ctx.df if task is None else ctx.df[ctx.df["task"] == task]
    return [
        n for n in ctx.info if n.startswith(PREFIXES) and n in df.columns and df[n].notna().any()
    ]


def means_table(ctx: Context, task: str, names: list[str]) -> Table:
    """Mean over seeds of every retrieval metric, per model point."""
    df = ctx.df[ctx.df["task"] == task]
    summ = tables.summary(df, names[0], extras=tuple(names[1:]))
    out = tables.format_summary(summ, names[0], ctx.info)
    return Table.from_frame(
        out,
        f"{task}: retrieval metrics over seeds per model, depth and kind (higher is better)",
    )


def _map_metric(names: list[str], prefix: str) -> str | None:
    """The mAP to plot: speaker-independent when recorded, else the plain one, else the first."""
    ours = [n for n in names if n.startswith(prefix)]
    for pick in (f"{prefix}si_map", f"{prefix}map"):
        if pick in ours:
            return pick
    maps = [n for n in ours if n.endswith("map")]
    return (maps or ours or [None])[0]


def section(ctx: Context) -> Section | None:
    """The retrieval section, or None when no cell recorded a retrieval metric."""
    if not retrieval_metrics(ctx):
        return None
    out = Section("retrieval", "Retrieval")
    out.blocks.append(
        Text(
            "Query-by-example (qbe_*): each keyword-spotting test utterance's embedding (the "
            "L2-normalized layer before the classifier) queries the others, relevant = same "
            "word; 'si' removes items of the query's own speaker. Spoken-term detection (std_*): "
            "each word of the vocabulary queries the speech-recognition test sentences, ranked "
            "by its best CTC alignment in the frame posteriors. mAP is the mean average "
            "precision over queries, P@1 the precision of the first hit, R@10 the recall "
            "within the first ten."
        )
    )
    for task in ctx.tasks():
        names = retrieval_metrics(ctx, task)
        if not names:
            continue
        df = ctx.df[ctx.df["task"] == task]
        out.blocks.append(means_table(ctx, task, names))
        out.blocks.append(spread_block(df, ctx.info, names, f" of {task} retrieval"))
        for prefix in PREFIXES:
            name = _map_metric(names, prefix)
            if name is None:
                continue
            out.figure(
                plots.metric_vs_depth(df, name, ctx.info[name]),
                f"{WHAT[prefix].capitalize()}: test {ctx.info[name].label} of the "
                f"{task} models against depth, residual vs plain, ±1 sd over seeds"
                + (", same-speaker items removed" if "_si_" in name else "")
                + ". Look for: whether depth improves the representation, not only the "
                "classifier.",
            )
    return out
