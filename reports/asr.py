"""The report's speech-recognition section: WER/CER against depth, greedy vs beam vs the
lexicon + n-gram decoder, worst cases."""

from __future__ import annotations

from reports import plots, retrieval, tables
from reports.page import Context, Section, Table


def greedy_vs_beam(ctx: Context, task: str) -> Table | None:
    """Test WER and CER of every ok cell: greedy, beam search and lexicon + n-gram side by side."""
    rows = []
    for r in ctx.task_results(task):
        m = r.get("metrics") or {}
        if r.get("status") != "ok" or "wer" not in m:
            continue
        errors = r.get("errors") or {}
        rows.append(
            [
                r["cell"]["id"],
                tables.kind_of(r),
                str((r.get("model") or {}).get("depth")),
                *(
                    tables.format_value((m.get(k) or {}).get("value"))
                    for k in ("wer", "wer_beam", "wer_lm", "cer", "cer_beam", "cer_lm")
                ),
                f"{errors.get('substitutions', '–')} / {errors.get('deletions', '–')} / "
                f"{errors.get('insertions', '–')}",
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
        "alone; lexicon+LM is a beam search that only spells words of the training transcripts "
        "and adds a word n-gram counted on them (never on test text). Look for: how much of the "
        "greedy WER is spelling the lexicon repairs, and whether depth still matters after it.",
        numeric=[False, False, True, True, True, True, True, True, True, False],
    )


def worst_table(result: dict) -> Table | None:
    """The worst test utterances of one cell: reference against hypothesis."""
    worst = result.get("worst") or []
    if not worst:
        return None
    rows = [
        [w["id"], w.get("speaker", ""), w["reference"], w["hypothesis"], f"{w['wer']:.2f}"]
        for w in worst
    ]
    return Table(
        ["utterance", "speaker", "reference", "hypothesis (greedy)", "WER"],
        rows,
        f"The {len(rows)} worst test utterances of the best cell, {result['cell']['id']}.",
        numeric=[False, False, False, False, True],
    )


def section(ctx: Context, task: str) -> Section:
    """Speech recognition: the common depth view on WER, plus decoding and worst cases."""
    from reports.html import depth_section

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
