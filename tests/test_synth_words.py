"""The synthetic spoken-word corpus: shapes, unseen test voices, cache, and reproducibility.

Everything runs on the ``tiny`` profile (4 words, ~700 clips, about two seconds to make).
"""

import dataclasses
import stat
import time

import numpy as np
import pytest

from datasets import synth_words as sw
from datasets.base import CLIP_SAMPLES
from datasets.synth import augment, espeak, generate

SPLITS = ("train", "val", "test")
TINY = sw.PROFILES["tiny"]


def _same(a, b, split):
    pa, pb = getattr(a, split), getattr(b, split)
    return (
        np.array_equal(pa.audio, pb.audio)
        and np.array_equal(pa.labels, pb.labels)
        and np.array_equal(pa.speakers, pb.speakers)
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny corpus made with two workers, and its cache folder."""
    cache_dir = tmp_path_factory.mktemp("cache")
    return sw.load(sw.Config(profile="tiny", workers=2), None, cache_dir), cache_dir


def test_shapes_dtypes_and_labels(tiny):
    data, _ = tiny
    assert data.name == "synth-words"
    assert data.labels == TINY.words
    for split in SPLITS:
        part = getattr(data, split)
        n = getattr(TINY, split)
        assert part.audio.shape == (n * len(TINY.words), CLIP_SAMPLES)
        assert part.audio.dtype == np.float32
        assert part.labels.dtype == np.int32
        assert part.speakers.dtype.kind == "U"
        np.testing.assert_array_equal(np.bincount(part.labels), [n] * len(TINY.words))
        assert np.isfinite(part.audio).all()
        peaks = np.abs(part.audio).max(axis=1)
        assert (peaks <= 1.0).all() and (peaks > 0.05).all()  # no clipping, no silent clips
    assert data.skipped.count == 0
    assert data.summary()["sizes"]["test"] == TINY.test * len(TINY.words)


def test_splits_have_disjoint_voices(tiny):
    data, _ = tiny
    heard = {split: set(getattr(data, split).speakers) for split in SPLITS}
    assert not heard["train"] & heard["test"]
    assert not heard["train"] & heard["val"]
    assert not heard["val"] & heard["test"]
    assert all("+" in voice for voice in heard["train"])  # accent+variant identities
    counts = data.info["voices"]
    assert counts["train"] > counts["val"] + counts["test"]  # about 70/15/15
    assert len(heard["test"]) > 10  # many unseen voices, not a handful


def test_second_load_reads_the_cache(tiny, monkeypatch):
    data, cache_dir = tiny
    path = sw.cache_path(sw.Config(profile="tiny"), cache_dir)
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(path.parent.glob("*.tmp"))  # no temp file left behind

    def must_not_run(*args, **kwargs):
        raise AssertionError("the corpus was generated again instead of read from the cache")

    monkeypatch.setattr(generate, "make_words", must_not_run)
    again = sw.load(sw.Config(profile="tiny", workers=3), None, cache_dir)
    assert again.info["from_cache"] and not data.info["from_cache"]
    assert all(_same(data, again, split) for split in SPLITS)
    assert again.labels == data.labels


def test_damaged_cache_is_rebuilt(tiny, tmp_path):
    data, _ = tiny
    path = sw.cache_path(sw.Config(profile="tiny"), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="damaged cache"):
        rebuilt = sw.load(sw.Config(profile="tiny", workers=1), None, tmp_path)
    # Also: one worker gives the same bits as two.
    assert all(_same(data, rebuilt, split) for split in SPLITS)


def test_same_word_same_clips_in_any_vocabulary_or_order(tiny, tmp_path):
    """'yes' comes first in the tiny vocabulary; here it is made after 'right' by the same worker.

    Its clips must not change: seeds depend on the word, not its position, and every word is
    spoken by a freshly loaded libespeak-ng.
    """
    data, _ = tiny
    other = sw.load(sw.Config(words=("right", "yes"), profile="tiny", workers=1), None, tmp_path)
    for split in SPLITS:
        for word in ("right", "yes"):
            a, b = getattr(data, split), getattr(other, split)
            mine = a.labels == data.labels.index(word)
            theirs = b.labels == other.labels.index(word)
            np.testing.assert_array_equal(a.audio[mine], b.audio[theirs])
            np.testing.assert_array_equal(a.speakers[mine], b.speakers[theirs])


def test_a_fresh_library_forgets_what_was_spoken_before():
    """Reloading resets libespeak-ng's hidden state; the breath noise follows ``seed`` only.

    ``f5`` has breath noise, whose generator libespeak-ng seeds from the wall clock: the pause
    makes sure the clock has moved on between the two utterances compared.
    """
    say = {"rate": 160, "pitch": 40, "pitch_range": 60}
    with espeak.Espeak() as tts:
        clean = tts.speak("marvin", "en-us+f5", **say, seed=11)
        other_seed = tts.speak("marvin", "en-us+f5", **say, seed=12)
    time.sleep(1.1)
    with espeak.Espeak() as tts:
        tts.speak("visual", "en-gb-scotland+croak", rate=220, pitch=80, pitch_range=20, seed=3)
    with espeak.Espeak() as tts:
        again = tts.speak("marvin", "en-us+f5", **say, seed=11)
    assert tts.sample_rate == 22050 and clean.dtype == np.int16 and len(clean) > 2000
    np.testing.assert_array_equal(clean, again)
    assert not np.array_equal(clean, other_seed)


def test_unknown_voice_is_a_clear_error():
    with espeak.Espeak() as tts, pytest.raises(espeak.EspeakError, match="no voice"):
        tts.speak("yes", "xx-nonexistent")


def test_augment_is_a_function_of_the_seed():
    speech = np.sin(np.linspace(0, 800, 8000)) * np.hanning(8000)
    clip = augment.augment(speech, np.random.default_rng(7), (5.0, 30.0))
    assert clip.shape == (CLIP_SAMPLES,) and clip.dtype == np.float32
    assert 0.05 < np.abs(clip).max() <= 1.0
    np.testing.assert_array_equal(clip, augment.augment(speech, np.random.default_rng(7), (5, 30)))
    assert not np.array_equal(clip, augment.augment(speech, np.random.default_rng(8), (5, 30)))


@pytest.mark.parametrize("color", sorted(augment.NOISE_EXPONENTS))
def test_colored_noise_has_unit_rms_and_its_slope(color):
    noise = augment.colored_noise(np.random.default_rng(0), CLIP_SAMPLES, color)
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)
    power = np.abs(np.fft.rfft(noise)) ** 2
    low, high = power[20:200].mean(), power[4000:6000].mean()
    expected = {"white": (0.5, 2), "pink": (10, 1e3), "brown": (1e3, 1e6)}[color]
    assert expected[0] < low / high < expected[1]


def test_config_defaults_and_coercion():
    config = sw.Config()
    assert config.words == sw.SPEECH_COMMANDS_WORDS and len(config.words) == 35
    assert sw.Config(profile="tiny").words == TINY.words
    toml_like = sw.Config(words=["yes", "no"], snr_db=[0, 20])  # TOML gives lists and ints
    assert toml_like.words == ("yes", "no") and toml_like.snr_db == (0.0, 20.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3


def test_cache_key_ignores_workers_only(tmp_path):
    path = sw.cache_path(sw.Config(profile="tiny", workers=1), tmp_path)
    assert path == sw.cache_path(sw.Config(profile="tiny", workers=4), tmp_path)
    assert path.parent == tmp_path / "synth-words" and path.suffix == ".npz"
    for other in (
        sw.Config(profile="tiny", seed=1),
        sw.Config(profile="tiny", snr_db=(0, 30)),
        sw.Config(profile="tiny", words=("yes", "no")),
        sw.Config(),
    ):
        assert sw.cache_path(other, tmp_path) != path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "huge"}, r"Config\.profile.*'huge'.*tiny"),
        ({"words": ()}, r"Config\.words is empty"),
        ({"words": ("yes",)}, r"at least two words"),
        ({"words": "yes"}, r"Config\.words must be a list"),
        ({"words": ("yes", "yes", "no")}, r"duplicates.*yes"),
        ({"words": ("yes", " no")}, r"' no' is not a word"),
        ({"words": ("yes", 3)}, r"3 is not a word"),
        ({"snr_db": (30, 5)}, r"Config\.snr_db.*low <= high"),
        ({"snr_db": (5,)}, r"Config\.snr_db must be \(low, high\)"),
        ({"snr_db": ("a", "b")}, r"Config\.snr_db must be \(low, high\)"),
        ({"snr_db": (5, float("inf"))}, r"Config\.snr_db must be finite"),
        ({"seed": -1}, r"Config\.seed must be an integer >= 0"),
        ({"seed": 1.5}, r"Config\.seed"),
        ({"workers": -2}, r"Config\.workers must be an integer >= 0"),
        ({"workers": True}, r"Config\.workers"),
    ],
)
def test_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        sw.Config(**options)
