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


def _keys(scores: np.ndarray) -> np.ndarray:
    """uint64 keys that sort as ``(row, score)``: the row in the high half, in the low half the
    float32 score's bits mapped to an unsigned integer of the same order (-0.0 counted as 0.0)."""
    bits = (scores.astype(np.float32) + np.float32(0.0)).view(np.uint32)
    ordered = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31))
    rows = np.arange(len(scores), dtype=np.uint64)[:, None] << np.uint64(32)
    return rows | ordered.astype(np.uint64)


def _ranked(
    sims: np.ndarray, relevant: np.ndarray, keep: np.ndarray, k: int, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AP, P@1, R@k and interpolated precision of a batch of queries, one row each.

    The definitions of ``average_precision``/``interpolated_precision`` computed from counts
    rather than a ranking, so a batch needs one plain sort of its scores and no Python loop.
    Items outside ``keep`` score -inf and are not relevant (they rank after every real cosine
    score and add no recall). For a relevant item with score s, the precision at the end of its
    tie group is (relevant items scoring >= s) / (items scoring >= s), and its recall the first
    count over the query's relevant items: AP is the mean of those precisions over the relevant
    items, and the interpolated precision at recall L the best one at recall >= L (a group
    without a relevant item never has the best). P@1 and R@k break ties by storage order, as a
    stable sort does. Every row must have a relevant item.
    """
    n, width = sims.shape
    scores = np.where(keep, sims, -np.inf).astype(np.float32)
    relevant = relevant & keep
    all_keys = _keys(np.sort(scores, axis=1)).ravel()
    row, col = np.nonzero(relevant)  # row-major: grouped by row
    rel_keys = _keys(scores)[row, col]
    order = np.argsort(rel_keys)
    row, rel_keys = row[order], rel_keys[order]
    n_rel = np.bincount(row, minlength=n)
    rel_end = np.cumsum(n_rel)[row]
    at_least = ((row + 1) * width - np.searchsorted(all_keys, rel_keys)).astype(np.float64)
    hits = (rel_end - np.searchsorted(rel_keys, rel_keys)).astype(np.float64)
    precision = hits / at_least
    recall = hits / n_rel[row]
    ap = np.bincount(row, weights=precision, minlength=n) / n_rel
    # Best precision at recall >= L: items of a row in ascending score have descending recall,
    # so it is a running maximum along the row, read at the row's last item with recall >= L.
    values, rank = np.unique(precision, return_inverse=True)
    running = np.maximum.accumulate(row * (len(values) + 1) + rank) - row * (len(values) + 1)
    starts = np.cumsum(n_rel) - n_rel
    curves = np.zeros((n, len(levels)))
    for i, level in enumerate(levels):
        count = np.bincount(row, weights=recall >= level, minlength=n).astype(np.int64)
        last = running[np.maximum(starts + count - 1, 0)]
        curves[:, i] = np.where(count > 0, values[last], 0.0)
    p1 = np.take_along_axis(relevant, np.argmax(scores, axis=1)[:, None], axis=1)[:, 0]
    kk = min(k, width)
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]
    above = scores > kth
    tied = scores == kth
    room = kk - above.sum(axis=1, keepdims=True)
    in_top = above | (tied & (np.cumsum(tied, axis=1) <= room))
    rk = (relevant & in_top).sum(axis=1) / n_rel
    return ap, p1.astype(np.float64), rk, curves


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
    """mAP, P@1 and R@k with every item a query against all the others (exact cosine search),
    and each query's AP (``per_query_ap``)."""
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
        # each query's AP in test order (queries with a relevant item): results.noise resamples them
        "per_query_ap": np.round(aps, 6).tolist(),
    }


def pr_curve(curves: list[np.ndarray]) -> dict:
    """Mean interpolated precision over queries at ``RECALL_LEVELS`` (JSON-ready lists)."""
    mean = np.mean(curves, axis=0) if curves else np.full(len(RECALL_LEVELS), np.nan)
    return {"recall": RECALL_LEVELS.round(3).tolist(), "precision": mean.round(4).tolist()}
