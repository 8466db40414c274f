"""The lexicon-constrained n-gram CTC decoder against brute force, and the n-gram LM itself."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.tasks.asr import lexicon

ALPHABET = ("a", "b", " ")  # + blank = 3
BLANK = 3
TRAIN = ["a b", "b a", "ab", "a", "b a b"]


def brute_force(logp: np.ndarray, lm: lexicon.NgramLM, alpha: float, beta: float):
    """Best lexicon text by summing every frame path's probability per collapsed text."""
    totals: dict[str, float] = {}
    for path in itertools.product(range(len(ALPHABET) + 1), repeat=len(logp)):
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        text = " ".join("".join(ALPHABET[c] for c in collapsed if c != BLANK).split())
        if any(w not in lm.words for w in text.split()):
            continue
        p = sum(logp[t, c] for t, c in enumerate(path))
        totals[text] = lexicon._logadd(totals.get(text, -math.inf), p)
    scored = {
        text: p + alpha * lm.score(text) + beta * len(text.split()) for text, p in totals.items()
    }
    best = max(scored, key=lambda t: (scored[t], t))
    return best, scored[best]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.0), (0.8, 1.5), (2.0, -1.0)])
def test_unbounded_beam_matches_brute_force(seed, order, alpha, beta):
    lm = lexicon.NgramLM(TRAIN, order=order)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, len(ALPHABET) + 1)) * 2.0
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    decoder = lexicon.Decoder(beam_width=10_000, alpha=alpha, beta=beta, prune=-math.inf)
    text, score = lexicon.decode(logp, lm, ALPHABET, BLANK, decoder)
    want_text, want_score = brute_force(logp, lm, alpha, beta)
    assert score == pytest.approx(want_score, abs=1e-9)
    assert text == want_text


def test_lexicon_fixes_spelling_and_bigram_breaks_ties():
    """The acoustics slightly prefer "bat sat"; the bigram, trained on "cat sat", overrules them."""
    lm = lexicon.NgramLM(["cat sat", "cat sat", "cat sat", "bat", "sat"])
    alphabet = ("a", "b", "c", "s", "t", " ")
    blank = len(alphabet)

    def frames(text_probs):
        out = np.full((len(text_probs), blank + 1), 1e-4)
        for t, probs in enumerate(text_probs):
            for ch, p in probs.items():
                out[t, alphabet.index(ch) if ch != "_" else blank] = p
        return np.log(out / out.sum(axis=1, keepdims=True))

    # "cat" but the first letter sounds a little more like "b"; "sat" spoken as "sa", blank, "t"
    logp = frames(
        [
            {"c": 0.45, "b": 0.55},
            {"a": 1},
            {"t": 1},
            {" ": 1},
            {"s": 1},
            {"a": 1},
            {"_": 1},
            {"t": 1},
        ]
    )
    greedy = "bat sat"
    text, _ = lexicon.decode(logp, lm, alphabet, blank, lexicon.Decoder(alpha=1.0, beta=0.0))
    assert text == "cat sat"  # the bigram prefers "cat sat" (seen 3x) over "bat sat" (unseen)
    no_lm, _ = lexicon.decode(logp, lm, alphabet, blank, lexicon.Decoder(alpha=0.0, beta=0.0))
    assert no_lm == greedy  # without the LM the acoustics win, still within the lexicon


def test_unfinished_word_is_never_output():
    """ "a" is only the start of the lexicon word "ab": the decoder must fall back to ""."""
    lm = lexicon.NgramLM(["ab"])
    logp = np.log(np.array([[0.9, 0.04, 0.03, 0.03]]))  # one frame: too short for "ab"
    text, score = lexicon.decode(logp, lm, ALPHABET, BLANK, lexicon.Decoder(alpha=0.0))
    assert text == ""
    assert score == pytest.approx(math.log(0.03 + 0.03))  # "" is a blank or a lone space


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_is_a_distribution_and_discounts_unseen(order):
    lm = lexicon.NgramLM(TRAIN, order=order)
    for words in ((), ("a",), ("b",), ("ab",), ("a", "b"), ("b", "b")):  # ("b", "b") unseen
        history = lm.context(words)
        assert len(history) == order - 1
        total = sum(math.exp(lm.logp(history, w)) for w in [*lm.words, lexicon.EOS])
        assert total == pytest.approx(1.0)
    if order > 1:
        assert lm.logp(("a",)[-order + 1 :], "b") > lm.logp(("a",)[-order + 1 :], "ab")
    assert lm.score("b a b") == pytest.approx(
        sum(lm.logp(lm.context(h), w) for h, w in [((), "b"), (("b",), "a"), (("b", "a"), "b")])
        + lm.logp(lm.context(("b", "a", "b")), lexicon.EOS)
    )
    with pytest.raises(KeyError, match="not in the lexicon"):
        lm.logp(lm.context(["a"]), "zz")


def test_trigram_uses_two_words_of_history():
    lm = lexicon.NgramLM(["x a y", "z a w"] * 3, order=3)
    assert lm.logp(("x", "a"), "y") > lm.logp(("x", "a"), "w")
    assert lm.logp(("z", "a"), "w") > lm.logp(("z", "a"), "y")
    bigram = lexicon.NgramLM(["x a y", "z a w"] * 3, order=2)
    assert bigram.logp(("a",), "y") == pytest.approx(bigram.logp(("a",), "w"))


def test_lm_input_is_checked():
    with pytest.raises(ValueError, match="no words"):
        lexicon.NgramLM(["", "  "])
    with pytest.raises(ValueError, match="order"):
        lexicon.NgramLM(TRAIN, order=0)
    with pytest.raises(ValueError, match="discount"):
        lexicon.NgramLM(TRAIN, discount=1.0)


def test_decoder_config_is_checked():
    with pytest.raises(ValueError, match="beam_width"):
        lexicon.Decoder(beam_width=0)
    with pytest.raises(ValueError, match="alpha"):
        lexicon.Decoder(alpha=-1.0)
    with pytest.raises(ValueError, match="threshold"):
        lexicon.Decoder(threshold=0.0)
    with pytest.raises(ValueError, match="lm_order"):
        lexicon.Decoder(lm_order=0)
