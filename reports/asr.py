"""The report's speech-recognition section: WER/CER against depth, greedy vs beam vs the
lexicon + n-gram decoder, worst cases."""

from __future__ import annotations

from reports import plots, retrieval, tables
from reports.depth import depth_section
from reports.page import Context, Section, Table
from results.record import CellResult

DECODERS = ("wer", "wer_beam", "wer_lm", "cer", "cer_beam", "cer_lm")
ERROR_KINDS = ("substitutions", "deletions", "insertions")


def greedy_vs_beam(ctx: Context, task: str) -> Table | None:
    """Test WER and CER of every ok cell: greedy, beam search and lexicon + n-gram side by side."""
    rows, skipped = [], set()
    for r in ctx.task_results(task):
        if not r.ok or "wer" not in r.metrics:
            continue
        skipped.add((r.evaluation.get("lm_decoder") or {}).get("skipped"))
        errors = r.evaluation.get("errors")  # task-specific: see bench.tasks.asr.evaluate
        counts = "–" if errors is None else " / ".join(str(errors[k]) for k in ERROR_KINDS)
        rows.append(
            [
                r.id,
                r.kind,
                str(r.model.depth),  # an ok cell built its model
                *(tables.format_value(r.value(k)) for k in DECODERS),
                counts,
            ]
        )
    if not rows:
        return None
    return Table(
        [
            "cell",
            "kind",
            "blocks",
            "WER greedy ↓",
            "WER beam ↓",
            "WER lexicon+LM ↓",
            "CER greedy ↓",
            "CER beam ↓",
            "CER lexicon+LM ↓",
            "sub / del / ins (greedy)",
        ],
        rows,
        "Corpus-level test error rates (jiwer). Greedy and beam search use the acoustic model "
        "alone; lexicon+LM is flashlight-text's lexicon beam search, which only spells words of "
        "the training transcripts and adds a word n-gram counted on them (never on test text). "
        "Look for: how much of the greedy WER is spelling the lexicon repairs, and whether depth "
        "still matters after it."
        + "".join(f" Lexicon+LM left out (–): {why}." for why in sorted(skipped - {None})),
        numeric=[False, False, True, True, True, True, True, True, True, False],
    )


def worst_table(result: CellResult) -> Table | None:
    """The worst test utterances of one cell: reference against hypothesis."""
    worst = result.evaluation.get("worst")
    if not worst:
        return None
    rows = [
        [w["id"], w["speaker"], w["reference"], w["hypothesis"], f"{w['wer']:.2f}"] for w in worst
    ]
    return Table(
        ["utterance", "speaker", "reference", "hypothesis (greedy)", "WER"],
        rows,
        f"The {len(rows)} worst test utterances of the best cell, {result.id}.",
        numeric=[False, False, False, False, True],
    )


def section(ctx: Context, task: str) -> Section:
    """Speech recognition: the common depth view on WER, plus decoding and worst cases."""
    out = depth_section(
        ctx,
        task,
        "Speech recognition",
        "wer",
        "Look for: does WER fall with depth for residual models and stall or rise for plain ones?",
    )
    df = ctx.df[ctx.df["task"] == task]
    if "cer" in ctx.info:
        out.figure(
            plots.metric_vs_depth(df, "cer", ctx.info["cer"]),
            "Test CER (greedy) against depth, residual vs plain, ±1 sd over seeds. Look for: "
            "whether character errors follow the WER trend (a model that gets most letters right "
            "but few whole words shows a low CER with a high WER).",
        )
    table = greedy_vs_beam(ctx, task)
    if table:
        out.blocks.append(table)
    best = tables.best_cell(ctx.task_results(task), "wer") or tables.best_cell(
        ctx.task_results(task), "wer", None
    )
    worst = worst_table(best) if best else None
    if worst:
        out.blocks.append(worst)
    retrieval.std_blocks(ctx, task, out)
    return out
