"""``synth-lengths``: LibriSpeech's utterance lengths without speech, for the ASR timing cells;
``timing-asr``'s whole-batch subsample; ``--profile`` overriding a suite's corpus sizes."""

import dataclasses

import numpy as np
import pytest

import models
from bench import axes, suite
from bench.tasks import timing_asr
from datasets import synth_lengths as sl
from datasets.base import SAMPLE_RATE, encode
from datasets.batching import AsrLayout
from results.errors import UserError


@pytest.fixture(scope="module")
def corpus():
    return sl.load(sl.Config(), None, None)


def _seconds(split) -> np.ndarray:
    return np.array([len(a) for a in split.audio]) / SAMPLE_RATE


def test_lengths_follow_librispeechs_and_transcripts_its_speaking_rate(corpus):
    train, test = _seconds(corpus.train), _seconds(corpus.test)
    assert len(train) == 512 and abs(train.mean() - 12.7) < 0.5  # train-clean-100: 12.7 s
    assert train.min() >= 1.5 and train.max() <= 24.5 and train.std() > 2.5
    assert 5.0 < test.mean() < 9.0 and test.max() <= 35.0  # test-clean: about 7.4 s
    words = np.array([len(t.split()) for t in corpus.train.transcripts])
    assert abs(words.sum() / train.sum() - sl.WORDS_PER_SECOND) < 0.2
    for text in corpus.train.transcripts[:20]:
        encode(text)  # over the CTC alphabet


def test_every_utterance_aligns_with_quartznets_frames_and_the_tiny_profile_is_an_eighth():
    tiny = sl.load(sl.Config(profile="tiny"), None, None)
    frames = models.frames_fn("quartznet-5x5", depth=5)
    for split in (tiny.train, tiny.val, tiny.test):
        for audio, text in zip(split.audio, split.transcripts, strict=True):
            assert int(frames(len(audio))) >= 2 * len(text)  # room for blanks between repeats
    assert abs(_seconds(tiny.train).mean() - 12.7 / 8) < 0.3


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another():
    a, b = (sl.load(sl.Config(profile="tiny"), None, None) for _ in range(2))
    c = sl.load(sl.Config(profile="tiny", seed=1), None, None)
    assert a.train.transcripts == b.train.transcripts
    assert all(np.array_equal(x, y) for x, y in zip(a.train.audio, b.train.audio, strict=True))
    assert a.train.transcripts != c.train.transcripts
    with pytest.raises(UserError, match="unknown profile 'huge'; known: librispeech, tiny"):
        sl.Config(profile="huge")


@pytest.mark.parametrize("batch", [64, 32, 8, 5])
def test_whole_batches_fill_every_length_bucket_and_keep_the_distribution(corpus, batch):
    kept = timing_asr.whole_batches(corpus.train, batch)
    layout = AsrLayout.of(kept, batch)
    per_bucket = np.bincount(layout.bucket(np.arange(len(kept))))
    assert len(per_bucket) == 6 and all(n % batch == 0 for n in per_bucket), per_bucket
    assert len(kept) >= len(corpus.train) - 6 * batch
    assert abs(_seconds(kept).mean() - _seconds(corpus.train).mean()) < 0.2
    assert set(kept.ids) <= set(corpus.train.ids)


def test_a_split_smaller_than_a_batch_per_bucket_is_kept_whole(corpus):
    small = dataclasses.replace(corpus.train)
    assert timing_asr.whole_batches(small, 128) is small  # 512 < 6 x 128


def test_profile_overrides_every_generated_corpus_and_names_one_without_profiles():
    check = axes.override(suite.load("gpu-check"), profile="tiny")
    assert {c.dataset: dict(c.dataset_options)["profile"] for c in check.cells()} == {
        "synth-words": "tiny",
        "synth-lengths": "tiny",
    }
    with pytest.raises(UserError, match="--profile small: dataset 'synth-words': .*unknown prof"):
        axes.override(suite.load("gpu-check"), profile="small")
    with pytest.raises(UserError, match="dataset 'fsdd' .* has no size profiles"):
        axes.override(suite.load("fsdd"), profile="tiny")
