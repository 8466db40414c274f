"""Query-by-example retrieval metrics: average precision, mAP, P@1 and R@10 over embeddings.

Every utterance is a query against all the others (never itself); relevant means the same label.
Scores are cosine similarities of L2-normalized embeddings from the exact back end of
``bench.search`` (batched matrix products): AP ranks the whole collection, so it needs every
score, which approximate indexes do not give; ``bench.search.compare`` measures those separately.

Definitions (documented because they decide the numbers):
    * Ties: items with equal scores form one rank position. Average precision sums, over distinct
      scores in descending order, the recall gained at that score times the precision after
      taking every item with that score (the step-wise definition of scikit-learn's
      ``average_precision_score``), so the order in which tied items happen to be stored never
      changes the result.
    * A query with no relevant item in its collection has no defined AP: it is left out of the
      mean and counted in ``queries_without_relevant``.
    * Speaker-independent retrieval removes from each query's collection every item of the
      query's own speaker, relevant or not.
    * Precision-recall curves are interpolated (precision at recall r = the best precision at any
      recall >= r, at the distinct-score steps above) on ``RECALL_LEVELS`` and averaged over
      queries, so their area matches mAP's view of the ranking.
"""

from __future__ import annotations

import numpy as np

from bench import search

QUERY_BATCH = 512
RECALL_LEVELS = np.linspace(0.0, 1.0, 21)


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of one ranking (higher score = earlier); NaN when nothing is relevant."""
    if not np.asarray(relevant, dtype=bool).any():
        return float("nan")
    recall, precision = _steps(scores, relevant)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _steps(scores: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) after each group of equal scores, best score first."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s, r = scores[order], relevant[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    hits = np.cumsum(r)[ends]
    return hits / max(int(relevant.sum()), 1), hits / (ends + 1)


def interpolated_precision(
    scores: np.ndarray, relevant: np.ndarray, levels: np.ndarray = RECALL_LEVELS
) -> np.ndarray:
    """Interpolated precision of one ranking at each recall level; NaN when nothing is relevant."""
    if not np.asarray(relevant, dtype=bool).any():
        return np.full(len(levels), np.nan)
    recall, precision = _steps(scores, relevant)
    best_after = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at recall >= r
    at = np.searchsorted(recall, levels, side="left")
    return np.where(at < len(recall), best_after[np.minimum(at, len(recall) - 1)], 0.0)


def _ranked(
    sims: np.ndarray, relevant: np.ndarray, keep: np.ndarray, k: int, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AP, P@1, R@k and interpolated precision of a batch of queries, one row each.

    The same definitions as ``average_precision``/``interpolated_precision`` applied row by row,
    without a Python loop: items outside ``keep`` are scored -inf and not relevant, so they sort
    last (after every real cosine score), in a tie group of their own that adds no recall. Ties
    among kept items still form one rank position; P@1 and R@k break them by storage order
    (a stable sort). Every row must have a relevant item.
    """
    scores = np.where(keep, sims, -np.inf).astype(sims.dtype)  # float32 sorts 3x faster
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    r = np.take_along_axis(relevant & keep, order, axis=1)
    n, width = r.shape
    n_rel = r.sum(axis=1, keepdims=True)
    hits = np.cumsum(r, axis=1)
    is_end = np.concatenate([s[:, 1:] != s[:, :-1], np.ones((n, 1), bool)], axis=1)
    position = np.arange(width)
    recall = hits / n_rel
    precision = hits / (position + 1)
    # Recall gained at each group end: its recall minus the recall at the previous group end.
    prev_end = np.maximum.accumulate(np.where(is_end, position, -1), axis=1)
    prev_end = np.concatenate([np.full((n, 1), -1), prev_end[:, :-1]], axis=1)
    prev_recall = np.where(
        prev_end >= 0, np.take_along_axis(recall, np.maximum(prev_end, 0), axis=1), 0.0
    )
    ap = np.sum(np.where(is_end, (recall - prev_recall) * precision, 0.0), axis=1)
    # Interpolated precision at level L: the best precision at any group end from the first
    # position whose recall reaches L (its group's end has the same recall, earlier ends less).
    best_after = np.maximum.accumulate(np.where(is_end, precision, -1.0)[:, ::-1], axis=1)[:, ::-1]
    first = np.stack([(recall < level).sum(axis=1) for level in levels], axis=1)
    curves = np.where(
        first < width, np.take_along_axis(best_after, np.minimum(first, width - 1), axis=1), 0.0
    )
    p1 = r[:, 0].astype(np.float64)
    rk = r[:, :k].sum(axis=1) / n_rel[:, 0]
    return ap, p1, rk, curves


def normalize(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    e = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(norms, 1e-12)


def query_by_example(
    embeddings: np.ndarray,
    labels: np.ndarray,
    speakers: np.ndarray | None = None,
    *,
    k: int = 10,
    exclude_same_speaker: bool = False,
) -> dict:
    """mAP, P@1 and R@k with every item a query against all the others (exact cosine search)."""
    e = normalize(embeddings)
    labels = np.asarray(labels)
    n = len(e)
    if exclude_same_speaker and speakers is None:
        raise ValueError("speaker-independent retrieval needs the speakers")
    speakers = np.asarray(speakers) if speakers is not None else None
    index = search.build("exact", e)
    aps, p1s, rks, curves = [], [], [], []
    missing = 0
    for start in range(0, n, QUERY_BATCH):
        queries = np.arange(start, min(start + QUERY_BATCH, n))
        sims = index.scores(e[queries])
        keep = np.arange(n)[None, :] != queries[:, None]
        if exclude_same_speaker:
            keep &= speakers[None, :] != speakers[queries, None]
        relevant = (labels[None, :] == labels[queries, None]) & keep
        has = relevant.any(axis=1)
        missing += int((~has).sum())
        if has.any():
            ap, p1, rk, curve = _ranked(sims[has], relevant[has], keep[has], k, RECALL_LEVELS)
            aps.append(ap)
            p1s.append(p1)
            rks.append(rk)
            curves.append(curve)
    aps, p1s, rks = (np.concatenate(x) if x else np.empty(0) for x in (aps, p1s, rks))
    curves = list(np.concatenate(curves)) if curves else []
    nan = float("nan")
    return {
        "map": float(np.mean(aps)) if len(aps) else nan,
        "p_at_1": float(np.mean(p1s)) if len(p1s) else nan,
        f"r_at_{k}": float(np.mean(rks)) if len(rks) else nan,
        "queries": len(aps),
        "queries_without_relevant": missing,
        "pr_curve": pr_curve(curves),
    }


def pr_curve(curves: list[np.ndarray]) -> dict:
    """Mean interpolated precision over queries at ``RECALL_LEVELS`` (JSON-ready lists)."""
    mean = np.mean(curves, axis=0) if curves else np.full(len(RECALL_LEVELS), np.nan)
    return {"recall": RECALL_LEVELS.round(3).tolist(), "precision": mean.round(4).tolist()}
