"""Spoken term detection (STD): rank test utterances for text queries from CTC posteriors; mAP.

A term is a word. Its score in an utterance is the best CTC alignment of its characters anywhere
inside the utterance's per-frame log-posteriors (a keyword-with-filler Viterbi), not a search in
the decoded text, so a term the greedy decoding misspelt still ranks by how close it came.

Scoring, precisely (``keyword_scores``), for term ``w = c1..cn`` and log-posteriors ``lp[t, k]``:
    * The term's frames follow a CTC path over ``␣ c1 .. cn ␣`` (a space on each side, so "ten"
      does not fire inside "often"; at an utterance edge the space may be replaced by frames
      that are all blank up to that edge). Blanks may sit between characters and are required
      between two equal ones, as in CTC. Each frame on that path adds ``lp[t, label]``.
    * Frames before and after the term are filler and add 0: whatever else the utterance says
      costs nothing, so utterance length and the other words do not move the score.
    * The best path is found by a max-sum dynamic program over (frame, state), vectorized over
      utterances; the score is its log-probability divided by ``n`` (length-normalized, so
      scores of different terms are comparable in a pooled curve; per-term AP is unaffected).
    * ``bounded=False`` drops the spaces: the characters may then match inside a longer word.

Evaluation (``detect``): relevant = the reference transcript contains the term as a whole word.
AP per term over all test utterances (``bench.retrieval.average_precision``, ties as one rank);
a term with no relevant utterance has no AP: left out of the mean and counted, as in QbE.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from bench import retrieval
from datasets.base import ALPHABET, encode

SPACE = ALPHABET.index(" ")
MAX_TERMS = 1000  # most frequent training words, so a large vocabulary stays affordable
HARDEST = 5
CHUNK = 64  # terms scored side by side (memory: utterances x states x 8 bytes)
NEG = -np.inf


def vocabulary(transcripts, max_terms: int = MAX_TERMS) -> list[str]:
    """Words of ``transcripts``, most frequent first (ties alphabetical), at most ``max_terms``."""
    counts = Counter(w for text in transcripts for w in text.split())
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max_terms]


def _pattern(term: str, bounded: bool) -> tuple[np.ndarray, np.ndarray]:
    """CTC states of the term (labels, with blank = -1 between labels) and which may skip a
    blank from two states back (a label differing from the previous label)."""
    labels = list(encode(term))
    if bounded:
        labels = [SPACE, *labels, SPACE]
    states = np.full(2 * len(labels) - 1, -1, np.int64)
    states[0::2] = labels
    skip = np.zeros(len(states), bool)
    for s in range(2, len(states), 2):
        skip[s] = states[s] != states[s - 2]
    return states, skip


def _chunk(terms: list[str], bounded: bool, blank: int) -> dict:
    """Several terms' CTC states laid end to end, with where each may be entered and left."""
    parts = [_pattern(term, bounded) for term in terms]
    sizes = np.array([len(states) for states, _ in parts])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    states = np.concatenate([states for states, _ in parts])
    skip = np.concatenate([skip for _, skip in parts])
    return {
        "labels": np.where(states < 0, blank, states),
        "from_skip": np.where(skip, 0.0, NEG)[2:],
        "enter": starts,  # after filler (bounded: at the opening space)
        "enter_edge": starts + 2,  # bounded: the first character, after all-blank frames
        "last": starts + sizes - 1,
        "length": np.array([len(term) for term in terms], np.float64),
    }


def keyword_scores(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    terms: str | list[str],
    blank: int,
    bounded: bool = True,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Best length-normalized CTC alignment score of each term in each utterance (module doc).

    Args:
        log_probs: ``[utterances, frames, classes]`` per-frame log-posteriors (padded).
        lengths: ``[utterances]`` valid frames of each.
        terms: a word, or a list of words, over ``ALPHABET``.
        blank: index of the CTC blank.
        bounded: require a space (or an utterance edge) on each side of the term.
        chunk: terms whose dynamic programs run side by side.

    Returns:
        ``[utterances]`` scores for one word, ``[utterances, terms]`` for a list; higher = more
        likely present; ``-inf`` when the term does not fit.

    The programs are vectorized over utterances and over ``chunk`` terms at once, with the
    utterances longest first so that each frame updates only those still running: the work is
    the total of the utterances' frames, not their number times the longest. Every score is the
    same float64 sum, in the same order, as a loop over terms and padded frames would give.
    """
    words = [terms] if isinstance(terms, str) else list(terms)
    lp = np.asarray(log_probs)  # read a frame at a time: no float64 copy of the whole split
    n_utt, n_frames, _ = lp.shape
    lengths = np.minimum(np.asarray(lengths, np.int64), n_frames)
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    running = np.searchsorted(-lengths, -np.arange(n_frames), side="left")  # rows with t < len
    valid = np.arange(n_frames)[None, :] < lengths[:, None]  # [U, T], longest first
    blank_lp = np.where(valid, lp[order, :, blank].astype(np.float64), 0.0)
    # all-blank prefix before frame t, and all-blank suffix after frame t (utterance edges)
    prefix = np.concatenate([np.zeros((n_utt, 1)), np.cumsum(blank_lp, axis=1)[:, :-1]], axis=1)
    suffix = np.cumsum(blank_lp[:, ::-1], axis=1)[:, ::-1] - blank_lp
    out = np.full((n_utt, len(words)), NEG)
    for lo in range(0, len(words), chunk):
        part = _chunk(words[lo : lo + chunk], bounded, blank)
        labels, last = part["labels"], part["last"]
        alpha = np.full((n_utt, len(labels)), NEG)
        spare, skipped = np.empty_like(alpha), np.empty_like(alpha)  # next frame's, and a temp
        best = np.full((n_utt, len(last)), NEG)
        for t in range(n_frames):
            k = running[t]
            if not k:
                break
            prev, cand = alpha[:k], spare[:k]  # rows past k have ended and are read no more
            # stay, or one state on; a term's first state also sees the previous term's last,
            # which never wins: it is entered from filler at 0 below, and every path is <= 0
            np.maximum(prev[:, 1:], prev[:, :-1], out=cand[:, 1:])
            cand[:, 0] = prev[:, 0]
            np.add(prev[:, :-2], part["from_skip"], out=skipped[:k, 2:])  # over a blank
            np.maximum(cand[:, 2:], skipped[:k, 2:], out=cand[:, 2:])
            cand[:, part["enter"]] = np.maximum(cand[:, part["enter"]], 0.0)
            if bounded:
                edge = part["enter_edge"]
                cand[:, edge] = np.maximum(cand[:, edge], prefix[:k, t, None])
            np.add(cand, lp[order[:k], t].astype(np.float64)[:, labels], out=cand)
            alpha, spare = spare, alpha
            exits = cand[:, last]  # after the closing space (bounded) or the last character
            if bounded:  # or at the end edge: wn (or the blank after it), then all-blank frames
                at_edge = np.maximum(cand[:, last - 2], cand[:, last - 1])
                exits = np.maximum(exits, at_edge + suffix[:k, t, None])
            np.maximum(best[:k], exits, out=best[:k])
        out[order, lo : lo + len(last)] = best / part["length"]
    return out[:, 0] if isinstance(terms, str) else out


def detect(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    transcripts,
    terms: list[str],
    blank: int,
    *,
    bounded: bool = True,
) -> dict:
    """mAP over ``terms`` of ranking the utterances by ``keyword_scores``; per-term AP; PR curve.

    Returns:
        ``map``, ``terms`` (with a relevant utterance), ``terms_without_relevant``, ``per_term``
        (``term``, ``ap``, ``relevant`` for every scored term, hardest first) and ``pr_curve``
        (mean interpolated precision over terms, as ``bench.retrieval.pr_curve``).
    """
    words = [set(text.split()) for text in transcripts]
    relevance = {term: np.array([term in w for w in words]) for term in terms}
    scored = [term for term in terms if relevance[term].any()]
    missing = len(terms) - len(scored)
    all_scores = keyword_scores(log_probs, lengths, scored, blank, bounded)
    per_term, curves = [], []
    for term, scores in zip(scored, all_scores.T, strict=True):
        relevant = relevance[term]
        ap = retrieval.average_precision(scores, relevant)
        curves.append(retrieval.interpolated_precision(scores, relevant))
        per_term.append({"term": term, "ap": ap, "relevant": int(relevant.sum())})
    aps = [t["ap"] for t in per_term]
    return {
        "map": float(np.mean(aps)) if aps else float("nan"),
        "terms": len(per_term),
        "terms_without_relevant": missing,
        "bounded": bounded,
        "per_term": sorted(per_term, key=lambda t: (t["ap"], t["term"])),
        "pr_curve": retrieval.pr_curve(curves),
    }


def hardest(result: dict, n: int = HARDEST) -> list[dict]:
    """The ``n`` terms with the lowest AP (ties: fewer relevant utterances, then alphabetical)."""
    rows = (result or {}).get("per_term") or []
    return sorted(rows, key=lambda t: (t["ap"], t["relevant"], t["term"]))[:n]
