"""Lexicon-constrained CTC prefix beam search with a word bigram language model.

The standard way to turn a character CTC model into a word recognizer: the beam keeps only
prefixes whose words are in a lexicon (a partial word must be the start of a lexicon word; a
space or the end may only close a whole word), and every word it closes adds
``alpha * log P(word | previous word) + beta``. The acoustic part of a hypothesis is its exact
CTC prefix probability (blank and non-blank endings tracked apart, repeats collapsed), so with
an unbounded beam the decoder finds the exact best of ``log p_ctc(text) + alpha * log P_lm(text)
+ beta * words`` over all lexicon texts (tests/test_lexicon.py checks this against brute force).

Spaces only separate words: leading, trailing and repeated spaces fold into one, as in
``ctc.to_text``. Lexicon and bigram counts must come from the *training* transcripts only, so a
test score with this decoder stays a held-out figure; the task reports it beside the
acoustic-only greedy and beam-search rates, never instead of them.
"""

from __future__ import annotations

import dataclasses
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


class BigramLM:
    """Interpolated absolute-discount word bigram over the words of ``sentences``.

    ``P(w | v) = max(c(v, w) - d, 0) / c(v) + d * N1+(v) / c(v) * P_uni(w)``, with an add-one
    unigram over the lexicon plus ``</s>``, so every lexicon word follows every word with some
    probability. ``<s>`` and ``</s>`` mark sentence start and end.
    """

    def __init__(self, sentences: Iterable[str], discount: float = 0.75):
        if not 0.0 < discount < 1.0:
            raise ValueError(f"BigramLM: discount must be in (0, 1). Received: {discount}")
        unigrams: Counter[str] = Counter()
        self._bigrams: Counter[tuple[str, str]] = Counter()
        for sentence in sentences:
            words = sentence.split()
            unigrams.update(words)
            chain = [BOS, *words, EOS]
            self._bigrams.update(zip(chain, chain[1:], strict=False))
        if not unigrams:
            raise ValueError("BigramLM: the sentences hold no words; cannot build a lexicon")
        self.words = frozenset(unigrams)
        self.prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))
        self.discount = discount
        unigrams[EOS] = sum(c for (_, w), c in self._bigrams.items() if w == EOS)
        total = sum(unigrams.values())
        self._unigram = {w: (c + 1) / (total + len(unigrams)) for w, c in unigrams.items()}
        self._context: Counter[str] = Counter()
        self._followers: Counter[str] = Counter()
        for (v, _), c in self._bigrams.items():
            self._context[v] += c
            self._followers[v] += 1
        self._cache: dict[tuple[str, str], float] = {}

    def logp(self, prev: str, word: str) -> float:
        """Natural log of ``P(word | prev)``; ``word`` is a lexicon word or ``</s>``."""
        key = (prev, word)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        uni = self._unigram.get(word)
        if uni is None:
            raise KeyError(f"BigramLM: {word!r} is not in the lexicon")
        n = self._context.get(prev, 0)
        if n:
            d = self.discount
            p = max(self._bigrams.get(key, 0) - d, 0.0) / n + d * self._followers[prev] / n * uni
        else:
            p = uni
        self._cache[key] = out = math.log(p)
        return out

    def score(self, text: str) -> float:
        """Natural log-probability of a whole sentence, ``<s>`` and ``</s>`` included."""
        chain = [BOS, *text.split(), EOS]
        return sum(self.logp(v, w) for v, w in zip(chain, chain[1:], strict=False))


@dataclasses.dataclass(frozen=True)
class Decoder:
    """Settings of the lexicon decoder.

    Attributes:
        beam_width: prefixes kept after every frame.
        alpha: weight of the bigram log-probability.
        beta: bonus per word (offsets the LM's bias towards short outputs).
        prune: characters whose frame log-posterior is below this are not tried in that frame.
    """

    beam_width: int = 32
    alpha: float = 0.8
    beta: float = 1.5
    prune: float = -10.0

    def __post_init__(self) -> None:
        if self.beam_width < 1:
            raise ValueError(f"Decoder.beam_width must be >= 1. Received: {self.beam_width}")
        if self.alpha < 0:
            raise ValueError(f"Decoder.alpha must be >= 0. Received: {self.alpha}")


def decode(
    logp: np.ndarray,
    lm: BigramLM,
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
                        prev = words[-1] if words else BOS
                        bonus = alpha * lm.logp(prev, partial) + beta
                        add((words + (partial,), ""), _NEG, total + p, lm_part + bonus)
                    continue
                grown = partial + ch
                if ch == last:  # a repeat collapses; the same letter again needs a blank between
                    add(key, _NEG, pnb + p, lm_part)
                    if grown in lm.prefixes:
                        add((words, grown), _NEG, pb + p, lm_part)
                elif grown in lm.prefixes:
                    add((words, grown), _NEG, total + p, lm_part)
        ranked = sorted(nxt.items(), key=lambda kv: (-_score(kv[1]), kv[0]))
        beams = dict(ranked[: decoder.beam_width])
    # "w" and "w " are different prefixes but the same text: sum their acoustics at the end
    finals: dict[str, list[float]] = {}
    for (words, partial), (pb, pnb, lm_part) in beams.items():
        if partial:
            if partial not in lm.words:
                continue  # an unfinished word is never output
            prev = words[-1] if words else BOS
            lm_part += alpha * lm.logp(prev, partial) + beta
            words = words + (partial,)
        lm_part += alpha * lm.logp(words[-1] if words else BOS, EOS)
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
    lm: BigramLM,
    alphabet: Sequence[str],
    blank: int,
    decoder: Decoder = Decoder(),
) -> list[str]:
    """``decode`` for each row of padded log-posteriors ``[n, frames, classes]`` (true lengths)."""
    return [
        decode(logp[i, : int(n)], lm, alphabet, blank, decoder)[0] for i, n in enumerate(lengths)
    ]
