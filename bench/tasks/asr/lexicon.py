"""Lexicon-constrained CTC prefix beam search with a word n-gram language model.

The standard way to turn a character CTC model into a word recognizer: the beam keeps only
prefixes whose words are in a lexicon (a partial word must be the start of a lexicon word; a
space or the end may only close a whole word), and every word it closes adds
``alpha * log P(word | previous words) + beta``. The acoustic part of a hypothesis is its exact
CTC prefix probability (blank and non-blank endings tracked apart, repeats collapsed), so with
an unbounded beam the decoder finds the exact best of ``log p_ctc(text) + alpha * log P_lm(text)
+ beta * words`` over all lexicon texts (tests/test_lexicon.py checks this against brute force).

Spaces only separate words: leading, trailing and repeated spaces fold into one, as in
``ctc.to_text``. Lexicon and n-gram counts must come from the *training* transcripts only, so a
test score with this decoder stays a held-out figure; the task reports it beside the
acoustic-only greedy and beam-search rates, never instead of them.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

BOS, EOS = "<s>", "</s>"
_NEG = -math.inf


def _logadd(a: float, b: float) -> float:
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _score(state: list[float]) -> float:
    """Beam ranking: CTC prefix log-probability plus the LM part so far."""
    return _logadd(state[0], state[1]) + state[2]


class NgramLM:
    """Interpolated absolute-discount word n-gram over the words of ``sentences``.

    ``P(w | h) = max(c(h, w) - d, 0) / c(h) + d * N1+(h) / c(h) * P(w | h minus its oldest
    word)``, down to an add-one unigram over the lexicon plus ``</s>``, so every lexicon word
    follows every history with some probability; an unseen history backs off entirely. Each
    sentence is padded with ``order - 1`` ``<s>`` and one ``</s>``.
    """

    def __init__(self, sentences: Iterable[str], order: int = 2, discount: float = 0.75):
        if order < 1:
            raise ValueError(f"NgramLM: order must be >= 1. Received: {order}")
        if not 0.0 < discount < 1.0:
            raise ValueError(f"NgramLM: discount must be in (0, 1). Received: {discount}")
        self.order, self.discount = order, discount
        unigrams: Counter[str] = Counter()
        self._ngrams: Counter[tuple[str, ...]] = Counter()  # (history..., word), every order
        for sentence in sentences:
            chain = [BOS] * (order - 1) + sentence.split() + [EOS]
            unigrams.update(chain[order - 1 :])
            for k in range(2, order + 1):
                grams = (tuple(chain[i : i + k]) for i in range(len(chain) - k + 1))
                self._ngrams.update(g for g in grams if g[-1] != BOS)  # <s> is never predicted
        self.words = frozenset(unigrams) - {EOS}
        if not self.words:
            raise ValueError("NgramLM: the sentences hold no words; cannot build a lexicon")
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))
        total = sum(unigrams.values())
        self._unigram = {w: (c + 1) / (total + len(unigrams)) for w, c in unigrams.items()}
        self._history: Counter[tuple[str, ...]] = Counter()
        self._followers: Counter[tuple[str, ...]] = Counter()
        for gram, c in self._ngrams.items():
            self._history[gram[:-1]] += c
            self._followers[gram[:-1]] += 1
        self._cache: dict[tuple[str, ...], float] = {}

    def context(self, words: Sequence[str]) -> tuple[str, ...]:
        """The history the next word is scored on: the last ``order - 1`` words, ``<s>``-padded."""
        if self.order == 1:
            return ()
        return ((BOS,) * (self.order - 1) + tuple(words))[-(self.order - 1) :]

    def _p(self, history: tuple[str, ...], word: str) -> float:
        if not history:
            return self._unigram[word]
        lower = self._p(history[1:], word)
        n = self._history.get(history, 0)
        if not n:
            return lower
        d = self.discount
        seen = max(self._ngrams.get((*history, word), 0) - d, 0.0)
        return seen / n + d * self._followers[history] / n * lower

    def logp(self, history: tuple[str, ...], word: str) -> float:
        """Natural log of ``P(word | history)``; ``word`` is a lexicon word or ``</s>``."""
        key = (*history, word)
        hit = self._cache.get(key)
        if hit is None:
            if word not in self._unigram:
                raise KeyError(f"NgramLM: {word!r} is not in the lexicon")
            hit = self._cache[key] = math.log(self._p(history, word))
        return hit

    def score(self, text: str) -> float:
        """Natural log-probability of a whole sentence, ``</s>`` included."""
        words = text.split()
        return sum(self.logp(self.context(words[:i]), w) for i, w in enumerate([*words, EOS]))


@dataclasses.dataclass(frozen=True)
class Decoder:
    """Settings of the lexicon decoder.

    Attributes:
        beam_width: prefixes kept after every frame.
        lm_order: n-gram order of the language model a caller builds for this decoder (2: bigram).
        alpha: weight of the n-gram log-probability.
        beta: bonus per word (offsets the LM's bias towards short outputs).
        threshold: hypotheses scoring more than this below the frame's best are dropped
            (saves time at a wide beam; ``inf`` keeps the whole beam).
        prune: characters whose frame log-posterior is below this are not tried in that frame.
    """

    beam_width: int = 32
    lm_order: int = 2
    alpha: float = 0.8
    beta: float = 1.5
    threshold: float = math.inf
    prune: float = -10.0

    def __post_init__(self) -> None:
        if self.beam_width < 1:
            raise ValueError(f"Decoder.beam_width must be >= 1. Received: {self.beam_width}")
        if self.lm_order < 1:
            raise ValueError(f"Decoder.lm_order must be >= 1. Received: {self.lm_order}")
        if self.alpha < 0:
            raise ValueError(f"Decoder.alpha must be >= 0. Received: {self.alpha}")
        if not self.threshold > 0:
            raise ValueError(f"Decoder.threshold must be > 0. Received: {self.threshold}")


def decode(
    logp: np.ndarray,
    lm: NgramLM,
    alphabet: Sequence[str],
    blank: int,
    decoder: Decoder = Decoder(),
) -> tuple[str, float]:
    """Best lexicon text of one utterance's frame log-posteriors ``[frames, classes]``.

    Returns ``(text, score)`` with ``score = log p_ctc(text) + alpha * log P_lm(text) + beta *
    words``; ``("", -inf)`` when no hypothesis in the beam ends on a whole word.
    """
    alpha, beta = decoder.alpha, decoder.beta
    # A hypothesis: (closed words, partial word) -> [log p ending in blank, in non-blank, LM part]
    beams: dict[tuple[tuple[str, ...], str], list[float]] = {((), ""): [0.0, _NEG, 0.0]}
    frames = np.asarray(logp, dtype=np.float64)
    chars = [(c, alphabet[c]) for c in range(len(alphabet)) if c != blank]
    for lp in frames:
        tried = [(c, ch, float(lp[c])) for c, ch in chars if lp[c] >= decoder.prune]
        p_blank = float(lp[blank])
        nxt: dict[tuple[tuple[str, ...], str], list[float]] = {}

        def add(key, pb, pnb, lm_part, nxt=nxt):
            cur = nxt.get(key)
            if cur is None:
                nxt[key] = [pb, pnb, lm_part]
            else:
                cur[0], cur[1] = _logadd(cur[0], pb), _logadd(cur[1], pnb)

        for key, (pb, pnb, lm_part) in beams.items():
            words, partial = key
            total = _logadd(pb, pnb)
            add(key, total + p_blank, _NEG, lm_part)
            last = partial[-1] if partial else " "
            for _, ch, p in tried:
                if ch == " ":
                    if not partial:  # a repeated or leading separator folds into this prefix
                        add(key, _NEG, total + p, lm_part)
                    elif partial in lm.words:
                        bonus = alpha * lm.logp(lm.context(words), partial) + beta
                        add((words + (partial,), ""), _NEG, total + p, lm_part + bonus)
                    continue
                grown = partial + ch
                if ch == last:  # a repeat collapses; the same letter again needs a blank between
                    add(key, _NEG, pnb + p, lm_part)
                    if grown in lm.prefixes:
                        add((words, grown), _NEG, pb + p, lm_part)
                elif grown in lm.prefixes:
                    add((words, grown), _NEG, total + p, lm_part)
        # nlargest is sorted(..., reverse=True)[:n], stable: ties keep the (deterministic) order
        ranked = heapq.nlargest(decoder.beam_width, nxt.items(), key=lambda kv: _score(kv[1]))
        floor = _score(ranked[0][1]) - decoder.threshold
        beams = {key: state for key, state in ranked if _score(state) >= floor}
    # "w" and "w " are different prefixes but the same text: sum their acoustics at the end
    finals: dict[str, list[float]] = {}
    for (words, partial), (pb, pnb, lm_part) in beams.items():
        if partial:
            if partial not in lm.words:
                continue  # an unfinished word is never output
            lm_part += alpha * lm.logp(lm.context(words), partial) + beta
            words = words + (partial,)
        lm_part += alpha * lm.logp(lm.context(words), EOS)
        text = " ".join(words)
        acoustic = _logadd(pb, pnb)
        if text in finals:
            finals[text][0] = _logadd(finals[text][0], acoustic)
        else:
            finals[text] = [acoustic, lm_part]
    if not finals:
        return "", _NEG
    text = max(sorted(finals), key=lambda t: finals[t][0] + finals[t][1])
    return text, finals[text][0] + finals[text][1]


def decode_batch(
    logp: np.ndarray,
    lengths: np.ndarray,
    lm: NgramLM,
    alphabet: Sequence[str],
    blank: int,
    decoder: Decoder = Decoder(),
) -> list[str]:
    """``decode`` for each row of padded log-posteriors ``[n, frames, classes]`` (true lengths)."""
    return [
        decode(logp[i, : int(n)], lm, alphabet, blank, decoder)[0] for i, n in enumerate(lengths)
    ]
