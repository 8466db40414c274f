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
    """Best lexicon text by its best frame path: ``max over paths of sum log p(path) + alpha *
    ln P_lm(text) + beta * words``, every path of every length-``T`` frame sequence tried."""
    best: dict[str, float] = {}
    for path in itertools.product(range(len(ALPHABET) + 1), repeat=len(logp)):
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        text = " ".join("".join(ALPHABET[c] for c in collapsed if c != BLANK).split())
        if any(w not in lm.words for w in text.split()):
            continue
        p = sum(logp[t, c] for t, c in enumerate(path))
        best[text] = max(best.get(text, -math.inf), p)
    scored = {
        text: p + alpha * lm.score(text) + beta * len(text.split()) for text, p in best.items()
    }
    text = max(scored, key=lambda t: (scored[t], t))
    return text, scored[text]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 0.0), (0.8, 1.5), (2.0, -1.0)])
def test_unbounded_beam_matches_brute_force(seed, order, alpha, beta):
    """With no pruning and Viterbi merging, flashlight's search over the ARPA form of ``NgramLM``
    finds the exact optimum: recombining hypotheses in one state (n-gram context, trie node,
    last token) by ``max`` loses nothing, and a word is closed only by a space or the end."""
    lm = lexicon.NgramLM(TRAIN, order=order)
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, len(ALPHABET) + 1)) * 2.0
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    decoder = lexicon.Decoder(
        beam_width=10_000, alpha=alpha, beta=beta, prune=-math.inf, log_add=False
    )
    text, score = lexicon.decode(logp, lm, ALPHABET, BLANK, decoder)
    want_text, want_score = brute_force(logp, lm, alpha, beta)
    assert score == pytest.approx(want_score, abs=1e-4)  # float32 emissions, KenLM's floats
    assert text == want_text


def test_a_beam_that_keeps_no_word_decodes_to_nothing_every_time():
    """Frames that spell the word ``b`` and then a prefix of ``ab`` that never closes: a beam of
    one keeps only that prefix, and the closing space at the end is impossible for it. The
    hypothesis flashlight returns then scores ``IMPOSSIBLE`` and its text is a tie among dead
    ones, which varied from call to call; the decoder answers nothing, every time."""
    lm = lexicon.NgramLM(["ab", "ab ab", "b"], order=2)
    logp = np.full((4, len(ALPHABET) + 1), -30.0)
    logp[0, 1] = logp[1, 2] = logp[2, 0] = logp[3, 0] = 0.0  # b, space, a, a
    decoder = lexicon.Decoder(beam_width=1, alpha=0.5, beta=0.0, prune=-math.inf)
    assert {lexicon.decode(logp, lm, ALPHABET, BLANK, decoder) for _ in range(5)} == {
        ("", -math.inf)
    }
    # a beam wide enough to keep "b ab" finds it
    wide = lexicon.Decoder(beam_width=100, alpha=0.5, beta=0.0, prune=-math.inf)
    assert lexicon.decode(logp, lm, ALPHABET, BLANK, wide)[0] == "b ab"


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_the_arpa_file_is_the_ngram_exactly(order, tmp_path):
    """KenLM reading ``NgramLM.arpa()`` gives every sentence of up to three words (and ``</s>``)
    the probability ``NgramLM.score`` gives it, to KenLM's float precision."""
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    lm = lexicon.NgramLM([*TRAIN, "the cat sat", "a cat sat on the mat", "the mat"], order=order)
    words = Dictionary()
    for w in [lexicon.UNK, *sorted(lm.words)]:
        words.add_entry(w)
    path = tmp_path / "lm.arpa"
    path.write_text(lm.arpa())
    kenlm = KenLM(str(path), words)
    for n in range(4):
        for sentence in itertools.product(sorted(lm.words), repeat=n):
            state, total = kenlm.start(False), 0.0
            for w in sentence:
                state, s = kenlm.score(state, words.get_index(w))
                total += s
            total += kenlm.finish(state)[1]
            assert total * math.log(10) == pytest.approx(lm.score(" ".join(sentence)), abs=1e-5)


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
    assert score == pytest.approx(math.log(0.03 + 0.03), abs=1e-6)  # a blank or a lone space
    best_path = lexicon.Decoder(alpha=0.0, log_add=False)
    assert lexicon.decode(logp, lm, ALPHABET, BLANK, best_path)[1] == pytest.approx(
        math.log(0.03), abs=1e-6
    )


def test_the_sum_over_alignments_outvotes_the_single_best_path():
    """ "a" has three likely alignments over two frames (a a, a _, _ a), "b" one (b _): the best
    single path spells "b", the summed probability "a". ``log_add`` (the default) sums."""
    lm = lexicon.NgramLM(["a", "b"])
    probs = np.array([[0.36, 0.44, 0.001, 0.199], [0.36, 0.001, 0.001, 0.638]])
    logp = np.log(probs / probs.sum(axis=1, keepdims=True))
    totals: dict[str, list[float]] = {}
    for path in itertools.product(range(len(ALPHABET) + 1), repeat=2):
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        text = " ".join("".join(ALPHABET[c] for c in collapsed if c != BLANK).split())
        totals.setdefault(text, []).append(math.exp(logp[0, path[0]] + logp[1, path[1]]))
    settings = {"alpha": 0.0, "beta": 0.0, "prune": -math.inf}
    summed = lexicon.decode(logp, lm, ALPHABET, BLANK, lexicon.Decoder(**settings))
    viterbi = lexicon.decode(logp, lm, ALPHABET, BLANK, lexicon.Decoder(**settings, log_add=False))
    assert viterbi[0] == "b" and viterbi[1] == pytest.approx(math.log(max(totals["b"])), abs=1e-5)
    assert summed[0] == "a" and summed[1] == pytest.approx(math.log(sum(totals["a"])), abs=1e-5)


def test_letters_below_prune_are_not_tried():
    """The one way to spell "ab" needs a "b" the model gives log-posterior -8: pruned at -7."""
    lm = lexicon.NgramLM(["ab"])
    rest = math.log((1 - math.exp(-8.0)) / 3)
    logp = np.array([[0.0, -99, -99, -99], [rest, -8.0, rest, rest]])
    logp[0] = np.log([0.97, 0.01, 0.01, 0.01])
    kept = lexicon.decode(
        logp, lm, ALPHABET, BLANK, lexicon.Decoder(alpha=0.0, beta=4.0, prune=-9.0)
    )
    pruned = lexicon.decode(
        logp, lm, ALPHABET, BLANK, lexicon.Decoder(alpha=0.0, beta=4.0, prune=-7.0)
    )
    assert kept[0] == "ab" and pruned[0] == ""


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_is_a_distribution_and_discounts_unseen(order):
    lm = lexicon.NgramLM(TRAIN, order=order)
    for words in ((), ("a",), ("b",), ("ab",), ("a", "b"), ("b", "b")):  # ("b", "b") unseen
        history = lm.context(words)
        assert history == ((lexicon.BOS, *words)[len(words) + 2 - order :] if order > 1 else ())
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


def test_decoding_leaves_the_posteriors_it_read_as_they_were():
    """The task decodes the split's posteriors, then scores term detection on the same array:
    pruning must work on a copy (a contiguous float32 row is a view, not a copy)."""
    lm = lexicon.NgramLM(TRAIN)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 7, len(ALPHABET) + 1)) * 6.0
    logp = (logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))).astype(np.float32)
    before = logp.copy()
    assert (logp < -7.0).any()  # letters below the pruning threshold are there to prune
    lexicon.decode_batch(logp, np.array([7, 5]), lm, ALPHABET, BLANK, lexicon.Decoder(prune=-7.0))
    np.testing.assert_array_equal(logp, before)
