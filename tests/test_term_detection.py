"""Spoken term detection: the keyword DP against hand-built posteriors and a brute-force search."""

import itertools
import math

import numpy as np
import pytest

from bench.tasks.asr import term_detection as td
from datasets.base import ALPHABET

BLANK = len(ALPHABET)
C = BLANK + 1
SURE, UNSURE = math.log(0.96), math.log(0.04 / (C - 1))


def posteriors(text: str) -> np.ndarray:
    """Confident per-frame log-posteriors spelling ``text`` ('_' = blank), one frame per symbol."""
    lp = np.full((len(text), C), UNSURE)
    for t, ch in enumerate(text):
        lp[t, BLANK if ch == "_" else ALPHABET.index(ch)] = SURE
    return lp


def batch(*texts: str) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded ``[n, T, C]`` posteriors and lengths, like ``asr.log_posteriors``."""
    parts = [posteriors(t) for t in texts]
    out = np.zeros((len(parts), max(map(len, parts)), C))
    for i, p in enumerate(parts):
        out[i, : len(p)] = p
    return out, np.array([len(p) for p in parts])


def collapse(labels) -> tuple:
    out = [k for k, _ in itertools.groupby(labels)]
    return tuple(k for k in out if k != BLANK)


def brute_force(lp: np.ndarray, term: str, bounded: bool) -> float:
    """Every segment, every labelling of it over {blank, space, term chars}: the best total
    log-probability whose CTC collapse is the term (with its spaces, or all-blank edges)."""
    n = len(lp)
    chars = tuple(ALPHABET.index(c) for c in term)
    sp = ALPHABET.index(" ")
    symbols = sorted({BLANK, sp, *chars})
    blank_sum = lambda a, b: float(lp[a:b, BLANK].sum())  # noqa: E731
    best = -math.inf
    for s in range(n):
        for e in range(s, n):
            for lab in itertools.product(symbols, repeat=e - s + 1):
                got = collapse(lab)
                score = float(sum(lp[s + i, k] for i, k in enumerate(lab)))
                if not bounded:
                    if got == chars:
                        best = max(best, score)
                    continue
                options = {
                    (sp, *chars, sp): 0.0,
                    (*chars, sp): blank_sum(0, s),
                    (sp, *chars): blank_sum(e + 1, n),
                    chars: blank_sum(0, s) + blank_sum(e + 1, n),
                }
                if got in options:
                    best = max(best, score + options[got])
    return best / len(term)


@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("term", ["ab", "aa"])
def test_dp_equals_brute_force_on_random_posteriors(term, bounded):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 6, C)) * 2
    # make the few labels that matter likely, so the best path is not trivial
    for k in (BLANK, ALPHABET.index(" "), ALPHABET.index("a"), ALPHABET.index("b")):
        logits[:, :, k] += 3
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    lengths = np.array([6, 5, 3])
    got = td.keyword_scores(lp, lengths, term, BLANK, bounded)
    for u in range(3):
        want = brute_force(lp[u, : lengths[u]], term, bounded)
        assert got[u] == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("bounded", [True, False])
@pytest.mark.parametrize("chunk", [1, 2, 64])
def test_terms_scored_side_by_side_equal_brute_force_each(chunk, bounded):
    """Several terms in one program (laid end to end, ``chunk`` at a time) over utterances of
    unsorted lengths, an empty one included: each term's column is its own brute-force best, so
    no state leaks into the next term and an ended utterance stops where it ended."""
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, 6, C)) * 2
    for k in (BLANK, ALPHABET.index(" "), ALPHABET.index("a"), ALPHABET.index("b")):
        logits[:, :, k] += 3
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    lengths = np.array([3, 6, 0, 5])
    terms = ["ab", "b", "aa", "ba", "a"]
    got = td.keyword_scores(lp, lengths, terms, BLANK, bounded, chunk=chunk)
    assert got.shape == (4, len(terms))
    for j, term in enumerate(terms):
        for u in range(4):
            want = brute_force(lp[u, : lengths[u]], term, bounded) if lengths[u] else -math.inf
            assert got[u, j] == pytest.approx(want, abs=1e-9), (term, u)


def test_term_clearly_present_scores_above_absent_and_inside_a_word():
    lp, n = batch("the cat is", "the cut is", "_cat_", "my concat_", "the cats_")
    scores = td.keyword_scores(lp, n, "cat", BLANK)
    present, absent, edge, inside, plural = scores
    assert present == pytest.approx(5 * SURE / 3)  # " c a t ", one confident frame each
    assert edge == pytest.approx(5 * SURE / 3)  # all-blank edges stand in for the spaces
    assert present - absent > 1.0  # "cut": the "a" frame costs log(0.04 / 28) - log(0.96)
    assert present - inside > 1.0 and present - plural > 1.0  # bounded: not in "concat"/"cats"
    free = td.keyword_scores(lp, n, "cat", BLANK, bounded=False)
    assert free[3] == pytest.approx(SURE)  # unbounded: found inside "concat"


def test_term_that_does_not_fit_scores_minus_infinity_and_padding_is_ignored():
    lp, n = batch("cat", "the cat_")
    assert td.keyword_scores(lp[:1, :2], np.array([2]), "cat", BLANK)[0] == -math.inf
    # the same utterance alone or padded in a batch scores the same
    alone = td.keyword_scores(*batch("cat"), "cat", BLANK)[0]
    assert td.keyword_scores(lp, n, "cat", BLANK)[0] == pytest.approx(alone)


def test_repeated_letters_need_a_blank_between_them():
    lp, n = batch(" see ", " se_e ", " sese ")
    scores = td.keyword_scores(lp, n, "see", BLANK)
    assert scores[1] > scores[0]  # "see" collapses to "se"; "se_e" spells "see"
    assert scores[1] > scores[2]


def test_detect_ranks_and_averages_over_terms():
    texts = ["the cat", "a dog", "the dog", "cat and dog"]
    lp, n = batch("the cat", "a dog", "the dog", "cat and dog")
    out = td.detect(lp, n, texts, ["cat", "dog", "the", "bird"], BLANK)
    assert out["map"] == pytest.approx(1.0)
    assert out["terms"] == 3 and out["terms_without_relevant"] == 1  # "bird" is never said
    assert {t["term"] for t in out["per_term"]} == {"cat", "dog", "the"}
    assert out["pr_curve"]["precision"][-1] == pytest.approx(1.0)


def test_detect_misranking_lowers_the_term_ap_by_hand():
    # "cat" relevant in utterances 0 and 2, but utterance 2's audio is unclear: ranks last
    texts = ["cat", "dog", "cat"]
    lp, n = batch("cat", "cat", "dog")
    out = td.detect(lp, n, texts, ["cat"], BLANK)
    # utterances 0 and 1 tie at the top (one relevant): P=1/2 at recall 1/2, then 2/3 at 1
    assert out["map"] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert td.hardest(out, 1)[0]["term"] == "cat"


def test_vocabulary_is_most_frequent_first_and_capped():
    assert td.vocabulary(["b a", "a c", "a b"]) == ["a", "b", "c"]
    assert td.vocabulary(["b a", "a c", "a b"], max_terms=2) == ["a", "b"]
