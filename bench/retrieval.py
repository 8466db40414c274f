"""Query-by-example retrieval metrics: average precision, mAP, P@1 and R@10 over embeddings.

Every utterance is a query against all the others (never itself); relevant means the same label.
Scores are cosine similarities of L2-normalized embeddings, computed as batched matrix products.

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
"""

from __future__ import annotations

import numpy as np

QUERY_BATCH = 512


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of one ranking (higher score = earlier); NaN when nothing is relevant."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    n_rel = int(relevant.sum())
    if n_rel == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, r = scores[order], relevant[order]
    # last index of each group of equal scores
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    hits = np.cumsum(r)[ends]
    precision = hits / (ends + 1)
    recall_gain = np.diff(np.r_[0, hits]) / n_rel
    return float(np.sum(recall_gain * precision))


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
    aps, p1s, rks = [], [], []
    missing = 0
    for start in range(0, n, QUERY_BATCH):
        sims = e[start : start + QUERY_BATCH] @ e.T
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
    }
