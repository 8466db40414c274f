"""The report's keyword-spotting section: accuracy against depth, query-by-example retrieval
beside it, and the confusion matrix of the best cell."""

from __future__ import annotations

from reports import plots, retrieval, tables
from reports.depth import depth_section
from reports.page import Context, Section


def section(ctx: Context, task: str) -> Section:
    """Keyword spotting: accuracy vs depth, and the confusion matrix of the best residual cell."""
    out = depth_section(
        ctx,
        task,
        "Keyword spotting",
        "accuracy",
        "Look for: does accuracy rise with depth for residual nets and fall (or stall) for plain "
        "ones? The gap at the deepest point is what the skip connections buy.",
    )
    retrieval.qbe_blocks(ctx, task, out)
    results = ctx.task_results(task)
    best = tables.best_cell(results, "accuracy") or tables.best_cell(results, "accuracy", None)
    if best:
        out.figure(
            plots.confusion_matrix(best),
            f"Test confusion matrix of the best {best.kind} cell, {best.id} (accuracy "
            f"{best.value('accuracy'):.3f}); rows are the true words, normalized. "
            "Look for: off-diagonal cells, the words the model confuses.",
        )
    return out
