"""The synthetic spoken-sentence corpus: shapes, transcripts, unseen voices, cache, reproducibility
across worker counts and chunkings, and the grammar it draws from.

Audio is made on the ``tiny`` profile only (72 utterances, about a second); the ``default``
profile is checked at the sentence level, which needs no synthesis.
"""

import dataclasses
import stat

import numpy as np
import pytest

import datasets
from datasets import synth_sentences as ss
from datasets.base import ALPHABET, SAMPLE_RATE, encode, out_of_alphabet
from datasets.synth import augment, espeak, generate, grammar, utterances
from datasets.synth.grammars import GRAMMARS

SPLITS = ("train", "val", "test")
TINY = ss.PROFILES["tiny"]


def _same(a, b) -> bool:
    for split in SPLITS:
        pa, pb = getattr(a, split), getattr(b, split)
        if (pa.transcripts, pa.speakers, pa.ids) != (pb.transcripts, pb.speakers, pb.ids):
            return False
        if not all(np.array_equal(x, y) for x, y in zip(pa.audio, pb.audio, strict=True)):
            return False
    return True


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny corpus made with two workers, and its cache folder."""
    cache_dir = tmp_path_factory.mktemp("cache")
    return ss.load(ss.Config(profile="tiny", workers=2), None, cache_dir), cache_dir


def test_registered_as_asr():
    assert datasets.get("synth-sentences") is ss and ss.KIND == "asr"


def test_shapes_lengths_and_transcripts(tiny):
    data, _ = tiny
    assert data.name == "synth-sentences"
    vocabulary = set(GRAMMARS["mini"].vocabulary())
    for split in SPLITS:
        part = getattr(data, split)
        assert len(part) == getattr(TINY, split)
        for clip, text in zip(part.audio, part.transcripts, strict=True):
            assert clip.dtype == np.float32 and clip.ndim == 1
            assert 0.5 * SAMPLE_RATE < len(clip) <= ss.MAX_SECONDS * SAMPLE_RATE
            assert np.isfinite(clip).all() and 0.05 < np.abs(clip).max() <= 1.0
            assert text and not out_of_alphabet(text) and set(text.split()) <= vocabulary
            assert len(encode(text)) == len(text)
        lengths = {len(c) for c in part.audio}
        assert len(lengths) > len(part) // 2  # variable length, not a fixed clip
    assert data.skipped.count == 0
    summary = data.summary()
    assert summary["sizes"] == TINY.sizes() and summary["alphabet"] == ALPHABET
    assert 0.5 < data.info["mean_seconds"]["train"] < 4.0
    assert data.train.ids[0] == "train-00000" and len(set(data.test.ids)) == len(data.test)


def test_speech_is_longer_for_longer_sentences(tiny):
    data, _ = tiny
    words = np.array([len(t.split()) for t in data.train.transcripts])
    seconds = np.array([len(a) for a in data.train.audio]) / SAMPLE_RATE
    assert seconds[words >= 5].mean() > seconds[words <= 2].mean() + 0.3


def test_splits_have_disjoint_voices(tiny):
    data, _ = tiny
    heard = {split: set(getattr(data, split).speakers) for split in SPLITS}
    assert not heard["train"] & heard["test"]
    assert not heard["train"] & heard["val"]
    assert not heard["val"] & heard["test"]
    assert all("+" in voice for voice in heard["train"])
    counts = data.info["voices"]
    assert counts["train"] > counts["val"] + counts["test"]


def test_every_vocabulary_word_is_heard_in_training(tiny):
    data, _ = tiny
    heard = {w for t in data.train.transcripts for w in t.split()}
    assert heard == set(GRAMMARS["mini"].vocabulary())


def test_second_load_reads_the_cache(tiny, monkeypatch):
    data, cache_dir = tiny
    path = ss.cache_path(ss.Config(profile="tiny"), cache_dir)
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(path.parent.glob("*.tmp"))

    def must_not_run(*args, **kwargs):
        raise AssertionError("the corpus was generated again instead of read from the cache")

    monkeypatch.setattr(utterances, "make_all", must_not_run)
    again = ss.load(ss.Config(profile="tiny", workers=3), None, cache_dir)
    assert again.info["from_cache"] and not data.info["from_cache"]
    assert _same(data, again)


def test_damaged_cache_is_rebuilt_and_one_worker_gives_the_same_bits(tiny, tmp_path):
    data, _ = tiny
    path = ss.cache_path(ss.Config(profile="tiny"), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="damaged cache"):
        rebuilt = ss.load(ss.Config(profile="tiny", workers=1), None, tmp_path)
    assert _same(data, rebuilt)


def test_bit_identical_across_workers_when_splits_span_several_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(utterances, "CHUNK", 10)  # 72 utterances in 9 chunks
    one = ss.load(ss.Config(profile="tiny", workers=1), None, tmp_path / "a")
    two = ss.load(ss.Config(profile="tiny", workers=2), None, tmp_path / "b")
    assert _same(one, two)
    assert ss.Config(profile="tiny").key()["chunk"] == 10


def test_sentences_are_a_function_of_the_seed():
    a, b = ss.sentences(ss.Config(profile="tiny")), ss.sentences(ss.Config(profile="tiny"))
    assert a == b
    assert ss.sentences(ss.Config(profile="tiny", seed=1)) != a
    assert ss.sentences(ss.Config(profile="tiny", snr_db=(0, 5))) == a  # text ignores the noise


def test_default_profile_sentences():
    """The default corpus at the sentence level: whole vocabulary in training, few repeats."""
    config = ss.Config()
    texts = ss.sentences(config)
    home = GRAMMARS["home"]
    assert {s: len(t) for s, t in texts.items()} == ss.PROFILES["default"].sizes()
    assert 200 <= len(home.vocabulary()) <= 600
    assert {w for t in texts["train"] for w in t.split()} == set(home.vocabulary())
    seen = set(texts["train"])
    for split in ("val", "test"):
        repeats = sum(t in seen for t in texts[split]) / len(texts[split])
        assert repeats < 0.05, f"{split}: {repeats:.0%} of the sentences are training sentences"
    lengths = [len(t.split()) for t in texts["train"]]
    assert 4 <= np.mean(lengths) <= 9 and max(lengths) <= 12
    assert all(not out_of_alphabet(t) for s in texts.values() for t in s)
    assert any("'" in t for t in texts["train"])  # the apostrophe is exercised


def test_grammar_sampling_and_forcing():
    gram = grammar.Grammar(
        {"sentence": ("<greet> <who>", "bye"), "greet": ("hi", "hello"), "who": ("ann", "bo")}
    )
    assert gram.vocabulary() == ("ann", "bo", "bye", "hello", "hi")
    draw = lambda seed: grammar.sample(gram, 20, np.random.default_rng(seed))  # noqa: E731
    assert draw(3) == draw(3) and draw(3) != draw(4)
    assert gram.derivation("bo") == {"sentence": 0, "who": 1}
    forced = gram.expand(np.random.default_rng(0), force=gram.derivation("hello"))
    assert forced.startswith("hello ")
    covered = grammar.covering(gram, np.random.default_rng(0))
    assert {w for s in covered for w in s.split()} == set(gram.vocabulary())
    with pytest.raises(ValueError, match="cannot cover"):
        grammar.sample(gram, 1, np.random.default_rng(0), cover=True)
    with pytest.raises(KeyError, match="zed"):
        gram.derivation("zed")
    assert gram.digest() == grammar.Grammar(dict(gram.rules)).digest()
    assert gram.digest() != grammar.Grammar({**gram.rules, "who": ("ann", "cy")}).digest()


def test_empty_alternatives_leave_no_double_spaces():
    gram = grammar.Grammar({"sentence": ("go <where> now",), "where": ("home", "")})
    said = {gram.expand(np.random.default_rng(s)) for s in range(20)}
    assert said == {"go home now", "go now"}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"other": ("a",)}, r"no start rule 'sentence'"),
        ({"sentence": ()}, r"<sentence> has no alternatives"),
        ({"sentence": ("<nope>",)}, r"<sentence>.*refers to no rule <nope>"),
        ({"sentence": ("<a>",), "a": ("<sentence>",)}, r"cycle: <sentence> -> <a> -> <sentence>"),
        ({"sentence": ("Hello",)}, r"'Hello'.*not a lower-case word"),
        ({"sentence": ("caf\u00e9",)}, r"not a lower-case word of the CTC alphabet"),
        ({"sentence": ("<a>'s",), "a": ("x",)}, r"not a whole word"),
        ({"sentence": ("a",), "b": ("c",)}, r"never used.*\['b'\]"),
    ],
)
def test_grammar_validation_names_the_rule(rules, message):
    with pytest.raises(ValueError, match=message):
        grammar.Grammar(rules)


def test_augment_utterance_pads_and_caps():
    speech = np.sin(np.linspace(0, 3000, 32000)) * np.hanning(32000)
    pad = (0.05, 0.3)
    for seed in range(5):
        clip = augment.augment_utterance(speech, np.random.default_rng(seed), (10, 30), pad, 60000)
        assert clip.dtype == np.float32 and 0.05 < np.abs(clip).max() <= 1.0
        assert 32000 + 1600 <= len(clip) <= 60000
    again = augment.augment_utterance(speech, np.random.default_rng(4), (10, 30), pad, 60000)
    np.testing.assert_array_equal(clip, again)
    short = augment.augment_utterance(speech, np.random.default_rng(0), (10, 30), pad, 33000)
    assert len(short) == 33000


def test_colored_noise_any_length():
    noise = augment.colored_noise_any(np.random.default_rng(0), 16_001, "pink")
    assert len(noise) == 16_001 and np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)


def test_say_speeds_up_speech_that_would_not_fit():
    text = "set an alarm for quarter to eleven in the afternoon please"
    ids = ("en-us+m3",)
    with espeak.Espeak() as tts:
        _, free = generate.say(tts, text, np.random.default_rng(1), ids)
    limit = int(len(free) * 0.7)
    with espeak.Espeak() as tts:
        _, fitted = generate.say(tts, text, np.random.default_rng(1), ids, max_samples=limit)
    assert len(fitted) <= limit < len(free)


def test_config_defaults_and_coercion():
    config = ss.Config()
    assert config.profile == "default" and config.snr_db == (10.0, 30.0)
    assert ss.Config(snr_db=[0, 20]).snr_db == (0.0, 20.0)  # TOML gives lists and ints
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3


def test_cache_key_ignores_workers_only(tmp_path):
    path = ss.cache_path(ss.Config(profile="tiny", workers=1), tmp_path)
    assert path == ss.cache_path(ss.Config(profile="tiny", workers=4), tmp_path)
    assert path.parent == tmp_path / "synth-sentences" and path.suffix == ".npz"
    for other in (
        ss.Config(profile="tiny", seed=1),
        ss.Config(profile="tiny", snr_db=(0, 30)),
        ss.Config(),
    ):
        assert ss.cache_path(other, tmp_path) != path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "huge"}, r"Config\.profile.*'huge'.*tiny"),
        ({"snr_db": (30, 5)}, r"Config\.snr_db.*low <= high"),
        ({"snr_db": (5,)}, r"Config\.snr_db must be \(low, high\)"),
        ({"snr_db": (5, float("nan"))}, r"Config\.snr_db must be finite"),
        ({"seed": -1}, r"Config\.seed must be an integer >= 0"),
        ({"seed": "0"}, r"Config\.seed"),
        ({"workers": 1.5}, r"Config\.workers must be an integer >= 0"),
        ({"workers": True}, r"Config\.workers"),
    ],
)
def test_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        ss.Config(**options)
