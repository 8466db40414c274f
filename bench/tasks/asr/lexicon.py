"""Lexicon-constrained CTC beam search with a word n-gram language model, on flashlight-text.

The standard way to turn a character CTC model into a word recognizer: the beam keeps only
prefixes whose words are in a lexicon, and every word it closes adds ``alpha * ln P(word |
previous words) + beta``. The search is flashlight-text's ``LexiconDecoder`` (C++, the decoder
behind wav2letter and torchaudio's ``ctc_decoder``). Hypotheses that meet in one state (n-gram
context, trie node, last token) are summed (``Decoder.log_add``, CTC's sum over alignments, as
the prefix beam search this replaced did) or, with ``log_add=False``, the best is kept (Viterbi:
then an unbounded beam finds the exact optimum, which tests/test_lexicon.py checks against brute
force). A word's n-gram score counts when the word closes, with no look-ahead inside it. The
n-gram is ``NgramLM``,
counted here, written as an ARPA file and read by the KenLM that flashlight-text bundles; the
ARPA form is exact (interpolated absolute discounting is a backoff model whose backoff weight is
the interpolation weight), which tests/test_lexicon.py checks against ``NgramLM.logp``.

Every lexicon spelling ends in a space, so a space (or the end of the utterance, fed to the
search as one more frame that is surely a space) closes each word, and an unfinished word is
never output; the space is also the search's silence token, so leading, trailing and repeated
spaces cost nothing, as in ``ctc.to_text``. Characters below ``Decoder.prune`` in a frame are
not tried there. Lexicon and n-gram counts must come from the *training* transcripts only, so a
test score with this decoder stays a held-out figure; the task reports it beside the
acoustic-only greedy and beam-search rates, never instead of them.

flashlight-text has wheels for CPython 3.11 and 3.12 (Linux x86_64 and aarch64; 3.11 also macOS
and Windows); where it is not installed, ``available()`` says why and the task leaves the
lexicon rates out, by name.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bench import quiet

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10.0)
IMPOSSIBLE = -1e30  # a log-probability no hypothesis survives
# KenLM's loading chatter on fd 2 (dropped; anything else it prints is replayed).
KENLM_NOISE = re.compile(
    r"^(?:Loading the LM will be faster|Reading |-+5-+10-+|\*+$|The ARPA file is missing)"
)


def available() -> str | None:
    """None when flashlight-text (with its KenLM) imports; else the sentence saying why not."""
    try:
        import flashlight.lib.text.decoder.kenlm  # noqa: F401
    except ImportError as err:
        return f"the lexicon decoder needs flashlight-text (pip install flashlight-text): {err}"
    return None


class NgramLM:
    """Interpolated absolute-discount word n-gram over the words of ``sentences``.

    ``P(w | h) = max(c(h, w) - d, 0) / c(h) + d * N1+(h) / c(h) * P(w | h minus its oldest
    word)``, down to an add-one unigram over the lexicon plus ``</s>``, so every lexicon word
    follows every history with some probability; an unseen history backs off entirely. Each
    sentence is padded with one ``<s>`` and one ``</s>``, as SRILM and KenLM do, so the first
    word's history is ``(<s>,)`` at any order.
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
            chain = [BOS, *sentence.split(), EOS]
            unigrams.update(chain[1:])
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
        """The history the next word is scored on: the last ``order - 1`` of ``<s>`` + words."""
        if self.order == 1:
            return ()
        return (BOS, *words)[-(self.order - 1) :]

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

    def arpa(self) -> str:
        """The model in ARPA backoff form (log10), exactly: every seen n-gram with its
        interpolated probability, every seen history with ``log10`` of its interpolation weight
        ``d * N1+(h) / c(h)`` as backoff (an unseen continuation gets exactly that times the
        lower order); ``<s>`` and ``<unk>`` are never predicted (-99). A unigram model gets an
        empty bigram section, since KenLM reads bigrams and up."""
        grams: dict[int, list[str]] = {1: [], 2: []}

        def backoff(gram: tuple[str, ...]) -> str:
            n = self._history.get(gram, 0)
            if not n or len(gram) == self.order:
                return ""
            return f"\t{math.log10(self.discount * self._followers[gram] / n):.9g}"

        for word in sorted(self._unigram):
            grams[1].append(f"{math.log10(self._unigram[word]):.9g}\t{word}{backoff((word,))}")
        grams[1].append(f"-99\t{BOS}{backoff((BOS,))}")
        grams[1].append(f"-99\t{UNK}")
        for gram in sorted(self._ngrams, key=lambda g: (len(g), g)):
            p = math.log10(self._p(gram[:-1], gram[-1]))
            grams.setdefault(len(gram), []).append(f"{p:.9g}\t{' '.join(gram)}{backoff(gram)}")
        lines = ["\\data\\", *(f"ngram {k}={len(v)}" for k, v in grams.items()), ""]
        for k, rows in grams.items():
            lines += [f"\\{k}-grams:", *rows, ""]
        return "\n".join([*lines, "\\end\\", ""])


@dataclasses.dataclass(frozen=True)
class Decoder:
    """Settings of the lexicon decoder.

    Attributes:
        beam_width: hypotheses kept after every frame.
        lm_order: n-gram order of the language model a caller builds for this decoder (2: bigram).
        alpha: weight of the n-gram's natural-log probability.
        beta: bonus per word (offsets the LM's bias towards short outputs).
        threshold: hypotheses scoring more than this below the frame's best are dropped
            (saves time at a wide beam; ``inf`` keeps the whole beam).
        prune: characters whose frame log-posterior is below this are not tried in that frame
            (the blank always is); with ``beta`` it keeps the search from buying a word bonus
            with letters the model all but ruled out.
        log_add: sum hypotheses that meet in one state (an undertrained model spreads its
            probability over many alignments: on the quick suite's speech cells the best path
            alone gave wer_lm 0.151 and 0.290 where the sum gave 0.140 and 0.251); False keeps
            the best one.
    """

    beam_width: int = 32
    lm_order: int = 2
    alpha: float = 0.8
    beta: float = 1.5
    threshold: float = math.inf
    prune: float = -10.0
    log_add: bool = True

    def __post_init__(self) -> None:
        if self.beam_width < 1:
            raise ValueError(f"Decoder.beam_width must be >= 1. Received: {self.beam_width}")
        if self.lm_order < 1:
            raise ValueError(f"Decoder.lm_order must be >= 1. Received: {self.lm_order}")
        if self.alpha < 0:
            raise ValueError(f"Decoder.alpha must be >= 0. Received: {self.alpha}")
        if not self.threshold > 0:
            raise ValueError(f"Decoder.threshold must be > 0. Received: {self.threshold}")


class Search:
    """flashlight-text's lexicon decoder over ``lm`` for one alphabet, built once per split.

    ``alphabet[i]`` is output ``i`` of the frame log-posteriors, ``blank`` the CTC blank's index;
    the space is the silence token. Every lexicon word of ``lm`` is spelt by its characters.
    """

    def __init__(self, lm: NgramLM, alphabet: Sequence[str], blank: int, decoder: Decoder):
        from flashlight.lib.text.decoder import (
            CriterionType,
            LexiconDecoder,
            LexiconDecoderOptions,
            Trie,
        )
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary

        self.classes = max(len(alphabet), blank + 1)
        self.blank, self.prune = blank, decoder.prune
        tokens = {ch: i for i, ch in enumerate(alphabet)}
        if " " not in tokens:
            raise ValueError("lexicon.Search: the alphabet needs a space (the word separator)")
        self.words = Dictionary()
        for word in [UNK, *sorted(lm.words)]:
            self.words.add_entry(word)
        with tempfile.TemporaryDirectory(prefix="resdepth-lm-") as tmp:
            path = Path(tmp) / f"train-{lm.order}gram.arpa"
            path.write_text(lm.arpa())
            with quiet.filtered_stderr(KENLM_NOISE):
                self._lm = KenLM(str(path), self.words)
        self._space = tokens[" "]
        trie = Trie(self.classes, self._space)
        for word in sorted(lm.words):
            spelling = [tokens[ch] for ch in word] + [tokens[" "]]  # a space closes a word
            # score 0: no LM look-ahead inside a word, so the trie is not smeared (a max over
            # zeros). With the unigram smeared over the trie, as flashlight's examples do, the
            # beam lost the reference so often that wer_lm on the quick suite's speech cells
            # doubled (0.13 -> 0.29) at the same settings.
            trie.insert(spelling, self.words.get_index(word), 0.0)
        options = LexiconDecoderOptions(
            beam_size=decoder.beam_width,
            beam_size_token=self.classes,
            beam_threshold=decoder.threshold if math.isfinite(decoder.threshold) else 1e30,
            lm_weight=decoder.alpha * LN10,  # KenLM scores are log10; alpha weighs ln P
            word_score=decoder.beta,
            unk_score=-math.inf,
            sil_score=0.0,
            log_add=decoder.log_add,
            criterion_type=CriterionType.CTC,
        )
        self._trie = trie  # the decoder keeps a reference, but keep ours alive with it
        self._decoder = LexiconDecoder(
            options, trie, self._lm, tokens[" "], blank, self.words.get_index(UNK), [], False
        )

    def __call__(self, logp: np.ndarray) -> tuple[str, float]:
        """Best lexicon text of one utterance's ``[frames, classes]`` log-posteriors and its
        score ``log p_ctc + alpha * ln P_lm + beta * words`` (``p_ctc`` summed over the paths
        the beam merged, or the best path's); ``("", -inf)`` on no frames or where no
        hypothesis of the lexicon survives the beam."""
        emissions = np.asarray(logp, dtype=np.float32)
        if emissions.ndim != 2 or emissions.shape[1] != self.classes:
            raise ValueError(
                f"lexicon.Search: expected [frames, {self.classes}] log-posteriors. "
                f"Received shape {emissions.shape}"
            )
        if not len(emissions):
            return "", -math.inf
        letters = np.arange(self.classes) != self.blank
        pruned = np.where(letters & (emissions < self.prune), IMPOSSIBLE, emissions)
        # The end closes a word too: one more frame that is surely a space (log 1 = 0).
        end = np.full((1, self.classes), IMPOSSIBLE, np.float32)
        end[0, self._space] = 0.0
        emissions = np.concatenate([pruned, end]).astype(np.float32)  # a new array: the
        # caller's posteriors (term detection reads them next) are never written
        results = self._decoder.decode(emissions.ctypes.data, *emissions.shape)
        if not results or results[0].score <= IMPOSSIBLE / 2:
            # No text of the lexicon fits: every hypothesis the beam kept took an impossible
            # token (a pruned letter, or the closing space in the middle of a word). IMPOSSIBLE
            # absorbs every other term of their scores, so they tie, and flashlight broke the
            # tie differently from call to call: the text would not repeat, none is the answer.
            return "", -math.inf
        best = results[0]
        text = " ".join(self.words.get_entry(w) for w in best.words if w >= 0)
        return text, float(best.score)


def decode(
    logp: np.ndarray,
    lm: NgramLM,
    alphabet: Sequence[str],
    blank: int,
    decoder: Decoder = Decoder(),
) -> tuple[str, float]:
    """Best lexicon text of one utterance's frame log-posteriors ``[frames, classes]``."""
    return Search(lm, alphabet, blank, decoder)(logp)


def decode_batch(
    logp: np.ndarray,
    lengths: np.ndarray,
    lm: NgramLM,
    alphabet: Sequence[str],
    blank: int,
    decoder: Decoder = Decoder(),
) -> list[str]:
    """``decode`` for each row of padded log-posteriors ``[n, frames, classes]`` (true lengths)."""
    search = Search(lm, alphabet, blank, decoder)
    return [search(logp[i, : int(n)])[0] for i, n in enumerate(lengths)]
