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


def _rank_metrics(scores: np.ndarray, relevant: np.ndarray, k: int) -> tuple[float, float, float]:
    """(AP, P@1, R@k) of one query; ties broken by storage order for P@1 and R@k."""
    ap = average_precision(scores, relevant)
    order = np.argsort(-scores, kind="stable")
    n_rel = relevant.sum()
    p1 = float(relevant[order[0]]) if len(order) else float("nan")
    rk = float(relevant[order[:k]].sum() / n_rel) if n_rel else float("nan")
    return ap, p1, rk


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
        sims = index.scores(e[start : start + QUERY_BATCH])
        for row, q in enumerate(range(start, min(start + QUERY_BATCH, n))):
            keep = np.ones(n, dtype=bool)
            keep[q] = False
            if exclude_same_speaker:
                keep &= speakers != speakers[q]
            rel = labels[keep] == labels[q]
            if not rel.any():
                missing += 1
                continue
            ap, p1, rk = _rank_metrics(sims[row, keep], rel, k)
            curves.append(interpolated_precision(sims[row, keep], rel))
            aps.append(ap)
            p1s.append(p1)
            rks.append(rk)
    nan = float("nan")
    return {
        "map": float(np.mean(aps)) if aps else nan,
        "p_at_1": float(np.mean(p1s)) if p1s else nan,
        f"r_at_{k}": float(np.mean(rks)) if rks else nan,
        "queries": len(aps),
        "queries_without_relevant": missing,
        "pr_curve": pr_curve(curves),
    }


def pr_curve(curves: list[np.ndarray]) -> dict:
    """Mean interpolated precision over queries at ``RECALL_LEVELS`` (JSON-ready lists)."""
    mean = np.mean(curves, axis=0) if curves else np.full(len(RECALL_LEVELS), np.nan)
    return {"recall": RECALL_LEVELS.round(3).tolist(), "precision": mean.round(4).tolist()}
