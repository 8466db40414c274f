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


def keyword_scores(
    log_probs: np.ndarray, lengths: np.ndarray, term: str, blank: int, bounded: bool = True
) -> np.ndarray:
    """Best length-normalized CTC alignment score of ``term`` in each utterance (see module doc).

    Args:
        log_probs: ``[utterances, frames, classes]`` per-frame log-posteriors (padded).
        lengths: ``[utterances]`` valid frames of each.
        term: the word, over ``ALPHABET``.
        blank: index of the CTC blank.
        bounded: require a space (or an utterance edge) on each side of the term.

    Returns:
        ``[utterances]`` scores, higher = more likely present; ``-inf`` when the term does not fit.
    """
    lp = np.asarray(log_probs, np.float64)
    n_utt, n_frames, _ = lp.shape
    lengths = np.minimum(np.asarray(lengths, np.int64), n_frames)
    states, skip = _pattern(term, bounded)
    labels = np.where(states < 0, blank, states)
    valid = np.arange(n_frames)[None, :] < lengths[:, None]  # [U, T]
    blank_lp = np.where(valid, lp[:, :, blank], 0.0)
    # all-blank prefix before frame t, and all-blank suffix after frame t (utterance edges)
    prefix = np.concatenate([np.zeros((n_utt, 1)), np.cumsum(blank_lp, axis=1)[:, :-1]], axis=1)
    suffix = np.cumsum(blank_lp[:, ::-1], axis=1)[:, ::-1] - blank_lp
    first = 2 if bounded else 0  # state of the term's first character
    n_states = len(states)
    alpha = np.full((n_utt, n_states), NEG)
    best = np.full(n_utt, NEG)
    for t in range(n_frames):
        prev = alpha
        cand = prev.copy()
        cand[:, 1:] = np.maximum(cand[:, 1:], prev[:, :-1])
        cand[:, 2:] = np.where(skip[2:], np.maximum(cand[:, 2:], prev[:, :-2]), cand[:, 2:])
        cand[:, 0] = np.maximum(cand[:, 0], 0.0)  # enter after filler (bounded: at the space)
        if bounded:  # or at the start edge, after all-blank frames
            cand[:, first] = np.maximum(cand[:, first], prefix[:, t])
        alpha = cand + lp[:, t, labels]
        alpha[~valid[:, t]] = NEG  # past the utterance's end
        exits = alpha[:, -1]  # after the closing space (bounded) or the last character: filler
        if bounded:  # or at the end edge: wn (or the blank after it), then all-blank frames
            at_edge = np.maximum(alpha[:, -3], alpha[:, -2]) + suffix[:, t]
            exits = np.maximum(exits, at_edge)
        best = np.maximum(best, exits)
    return best / len(term)


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
    log_probs = np.asarray(log_probs, np.float64)  # once, not per term
    words = [set(text.split()) for text in transcripts]
    per_term, curves, missing = [], [], 0
    for term in terms:
        relevant = np.array([term in w for w in words])
        if not relevant.any():
            missing += 1
            continue
        scores = keyword_scores(log_probs, lengths, term, blank, bounded)
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
