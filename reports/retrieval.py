"""The report's retrieval section: how well a trained model's embedding finds spoken terms.

Two kinds of metrics feed it, whichever the run has: query-by-example retrieval of keyword-spotting
cells (``qbe_*``: one test utterance queries the others, relevant = same word) and spoken-term
detection of speech-recognition cells (any metric named ``std_*``). Per task, a table of the
means over seeds per model point, the seed spread, and mAP against depth, residual vs plain.
"""

from __future__ import annotations

from reports import plots, tables
from reports.page import Context, Section, Table, Text, spread_block

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
            "Embeddings of the trained models (the L2-normalized layer before the classifier) "
            "used to retrieve spoken terms: mAP is the mean average precision over queries, "
            "P@1 the precision of the first hit, R@10 the recall within the first ten; 'si' "
            "removes items of the query's own speaker."
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
                f"{task} models' embedding against depth, residual vs plain, ±1 sd over seeds"
                + (", same-speaker items removed" if "_si_" in name else "")
                + ". Look for: whether depth improves the representation, not only the "
                "classifier.",
            )
    return out
