"""``wer_lm`` is a held-out figure: the lexicon decoder and its n-gram see training text only.

Words are planted that occur only in the validation and test transcripts of a small ``AsrData``,
and a "perfect" acoustic model spells every utterance letter for letter (one-hot frames, a blank
between characters). If the lexicon or the n-gram counts took in any val/test text, the decoder
would output the planted words; built on training text only, it never can. ``leaks`` is the
checker: it reports every planted word the decoder emitted, every lexicon word and every n-gram
count that training text does not give. It is run twice: on the code as it is (no leak), and on
a deliberately leaking ``lm_transcripts`` (LM from train + val + test), where it must fire, so
the checker is shown able to fail. A few seconds in all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from bench.tasks import asr
from bench.tasks.asr import ctc, lexicon
from datasets.base import ALPHABET, AsrData, AsrSplit

TRAIN = (
    "the cat sat", "the dog sat", "a cat ran", "the dog ran home", "a dog sat home",
    "the cat ran home",
)  # fmt: skip
# Planted: "zebra", "quay", "violin", "jumped", "onto" occur in val/test only. Each split also has
# sentences of training words only, which the decoder must get right (so it is not just silent).
VAL = ("the zebra sat", "a cat ran", "the quay")
TEST = ("the cat jumped onto the quay", "a violin sat home", "the dog ran", "zebra")
PLANTED = frozenset(" ".join(VAL + TEST).split()) - frozenset(" ".join(TRAIN).split())
NUM_CLASSES = ctc.NUM_OUTPUTS


def spelled(text: str) -> np.ndarray:
    """The frame classes of a perfect CTC model saying ``text``: blank, char, blank, char, ...

    Stored as the utterance's "audio" (one sample per frame), so ``perfect_net`` can read it back.
    """
    ids = [ctc.BLANK]
    for ch in text:
        ids += [ALPHABET.index(ch), ctc.BLANK]
    return np.asarray(ids, dtype=np.float32)


def split_of(texts: tuple[str, ...], name: str) -> AsrSplit:
    return AsrSplit(
        audio=tuple(spelled(t) for t in texts),
        transcripts=texts,
        speakers=tuple("s0" for _ in texts),
        ids=tuple(f"{name}-{i}" for i in range(len(texts))),
    )


@pytest.fixture(scope="module")
def data() -> AsrData:
    assert {"zebra", "quay", "violin", "jumped", "onto"} == PLANTED
    splits = (split_of(TRAIN, "train"), split_of(VAL, "val"), split_of(TEST, "test"))
    return AsrData("planted", *splits)


def perfect_net(batch, training=False):
    """Logits that put (almost) all mass on the class each "audio" sample names."""
    del training
    classes = np.asarray(batch).astype(np.int64)
    return (np.eye(NUM_CLASSES, dtype=np.float32)[classes] * 30.0) - 15.0


def frames(samples):
    """One output frame per "audio" sample."""
    return samples


def posteriors(part: AsrSplit) -> tuple[np.ndarray, np.ndarray]:
    return asr.log_posteriors(perfect_net, part, frames)


def leaks(data: AsrData, decode: Callable | None = None) -> list[str]:
    """Every way val/test text reached the lexicon decoder; empty when it saw train text only.

    Runs ``decode`` (default: ``asr.lm_transcripts``, looked up at call time so a monkeypatch
    applies) on perfect posteriors of the val and test splits, with the task's own decoder
    settings, and catches the language model it hands to ``lexicon.decode_batch``. Reports:
    planted words in the output, lexicon words not in training text, and n-gram counts that
    differ from those of an ``NgramLM`` of ``data.train.transcripts``.
    """
    decode = decode or (lambda d, p, dec: asr.lm_transcripts(d, p, dec))
    train_words = frozenset(" ".join(data.train.transcripts).split())
    reference = lexicon.NgramLM(data.train.transcripts, order=asr.LM_DECODER.lm_order)
    seen: list[lexicon.NgramLM] = []
    real_decode_batch = lexicon.decode_batch

    def spy(logp, lengths, lm, *args, **kwargs):
        seen.append(lm)
        return real_decode_batch(logp, lengths, lm, *args, **kwargs)

    problems: list[str] = []
    lexicon.decode_batch = spy
    try:
        for name in ("val", "test"):
            hyps = decode(data, posteriors(getattr(data, name)), asr.LM_DECODER)
            emitted = sorted(set(" ".join(hyps).split()) - train_words)
            if emitted:
                problems.append(f"{name}: decoded words that only val/test text has: {emitted}")
    finally:
        lexicon.decode_batch = real_decode_batch
    if not seen:
        problems.append("the decoder never called lexicon.decode_batch: nothing was checked")
    for lm in seen:
        if lm.words != train_words:
            extra = sorted(lm.words - train_words)
            problems.append(f"lexicon words not in the training text: {extra}")
        grams = sorted(set(lm._ngrams) | set(reference._ngrams))
        wrong = [g for g in grams if lm._ngrams.get(g, 0) != reference._ngrams.get(g, 0)]
        if wrong or lm._unigram != reference._unigram:
            shown = ", ".join(
                f"{' '.join(g)!r}: {lm._ngrams.get(g, 0)} (train: {reference._ngrams.get(g, 0)})"
                for g in wrong[:3]
            )
            problems.append(
                f"n-gram counts differ from the training text's in {len(wrong)} n-grams "
                f"(unigrams too: {lm._unigram != reference._unigram}), e.g. {shown}"
            )
    return list(dict.fromkeys(problems))  # one LM per split: the same finding once


def test_perfect_acoustics_decode_training_words_exactly(data):
    """The fixture is sound: greedy CTC reads every utterance back, and the lexicon decoder
    returns each all-training-words sentence unchanged (it is not just silent)."""
    for part in (data.val, data.test):
        assert asr.transcribe(perfect_net, part, frames) == list(part.transcripts)
        hyps = asr.lm_transcripts(data, posteriors(part), asr.LM_DECODER)
        for ref, hyp in zip(part.transcripts, hyps, strict=True):
            if not set(ref.split()) & PLANTED:
                assert hyp == ref


def test_lexicon_decoder_never_outputs_words_only_in_val_or_test(data):
    problems = leaks(data)
    assert not problems, "val/test text reached the lexicon decoder:\n" + "\n".join(problems)


def test_lm_counts_come_from_training_text_only(data):
    """The LM ``lm_transcripts`` decodes with is the one training text gives: same words, same
    counts, same probabilities, whatever val/test hold."""
    caught = []
    real = lexicon.decode_batch

    def spy(logp, lengths, lm, *args, **kwargs):
        caught.append(lm)
        return real(logp, lengths, lm, *args, **kwargs)

    lexicon.decode_batch = spy
    try:
        asr.lm_transcripts(data, posteriors(data.test), asr.LM_DECODER)
    finally:
        lexicon.decode_batch = real
    (lm,) = caught
    reference = lexicon.NgramLM(data.train.transcripts, order=asr.LM_DECODER.lm_order)
    assert lm.order == 3 and lm.words == frozenset(" ".join(TRAIN).split())
    assert lm._ngrams == reference._ngrams and lm._unigram == reference._unigram
    assert lm.score("the cat sat") == pytest.approx(reference.score("the cat sat"))
    assert not PLANTED & {w for gram in lm._ngrams for w in gram}


def test_wer_lm_of_the_task_pays_for_every_planted_word(data):
    """Through ``asr.scores`` (what a cell records): perfect acoustics give greedy WER 0, and
    ``wer_lm`` at least the share of planted reference words, which no lexicon decoder of the
    training text can spell."""
    result = asr.scores(perfect_net, data, "test", frames=frames, beam_width=0, terms=False)
    refs = [w for t in TEST for w in t.split()]
    floor = sum(w in PLANTED for w in refs) / len(refs)  # 4 of 13 words
    assert result.metrics["wer"].value == 0.0
    assert result.metrics["wer_lm"].value >= floor > 0.3
    assert result.details["lm_decoder"]["lexicon_from"] == "train"


def leaky_lm_transcripts(data, posteriors, decoder):
    """The bug the checker exists for: lexicon and n-gram counted on train + val + test."""
    text = data.train.transcripts + data.val.transcripts + data.test.transcripts
    lm = lexicon.NgramLM(text, order=decoder.lm_order)
    logp, lengths = posteriors
    return lexicon.decode_batch(logp, lengths, lm, ALPHABET, ctc.BLANK, decoder)


def test_the_checker_catches_a_leaking_decoder(data, monkeypatch):
    """On a leaking ``lm_transcripts`` the checker fires on all three kinds of leak (output,
    lexicon, counts), and ``wer_lm`` drops to 0: perfect acoustics now spell the planted words."""
    monkeypatch.setattr(asr, "lm_transcripts", leaky_lm_transcripts)
    problems = leaks(data)
    assert len(problems) == 4, problems
    assert problems[0] == "val: decoded words that only val/test text has: ['quay', 'zebra']"
    assert problems[1] == (
        "test: decoded words that only val/test text has: ['jumped', 'onto', 'quay', 'violin', "
        "'zebra']"
    )
    assert problems[2].startswith("lexicon words not in the training text: ['jumped', 'onto'")
    assert problems[3].startswith("n-gram counts differ from the training text's")
    result = asr.scores(perfect_net, data, "test", frames=frames, beam_width=0, terms=False)
    assert result.metrics["wer_lm"].value == 0.0


def test_without_flashlight_text_the_lexicon_rates_are_left_out_by_name(data, monkeypatch):
    """Where flashlight-text has no wheel (CPython 3.13), the task records no ``wer_lm`` and
    says why in the cell's evaluation, instead of failing the cell."""
    monkeypatch.setattr(lexicon, "available", lambda: "no flashlight-text wheel for this Python")
    result = asr.scores(perfect_net, data, "test", frames=frames, beam_width=0, terms=False)
    assert "wer_lm" not in result.metrics and "cer_lm" not in result.metrics
    assert result.details["lm_decoder"] == {"skipped": "no flashlight-text wheel for this Python"}
    assert result.metrics["wer"].value == 0.0
