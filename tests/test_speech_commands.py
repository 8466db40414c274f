"""Speech Commands v2 loader on a mini tree in the exact released layout: the 12- and 35-label
tasks, the validation/testing lists honoured, silence cut from background noise, bad files and
layouts reported clearly."""

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import datasets
from datasets import speech_commands as sc
from datasets.base import CLIP_SAMPLES, DataError

TRAIN_SPEAKERS = ("0a7c2a8d", "1b2c3d4e")
VAL_SPEAKER = "c0ffee00"
TEST_SPEAKER = "d00dfeed"
SPEAKERS = (*TRAIN_SPEAKERS, VAL_SPEAKER, TEST_SPEAKER)
NOISE_SECONDS = 12  # >= 10 s, so the 10 % validation and test regions hold a one-second cut


def make_tree(root: Path, words=sc.WORDS_35, noise: bool = True) -> Path:
    """Every word spoken once by each speaker (0.5 s tones); the lists put one speaker in
    validation and one in test; two noise files."""
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    val, test = [], []
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True)
        for s, speaker in enumerate(SPEAKERS):
            name = f"{speaker}_nohash_0.wav"
            sf.write(
                root / word / name, 0.3 * np.sin(2 * np.pi * (150 + 20 * w + 5 * s) * t), 16000
            )
            if speaker == VAL_SPEAKER:
                val.append(f"{word}/{name}")
            elif speaker == TEST_SPEAKER:
                test.append(f"{word}/{name}")
    (root / sc.VAL_LIST).write_text("\n".join(val) + "\n")
    (root / sc.TEST_LIST).write_text("\n".join(test) + "\n")
    if noise:
        (root / sc.NOISE_DIR).mkdir()
        for name in ("white_noise", "pink_noise"):
            sf.write(
                root / sc.NOISE_DIR / f"{name}.wav",
                rng.uniform(-0.8, 0.8, NOISE_SECONDS * 16000),
                16000,
            )
        (root / sc.NOISE_DIR / "README.md").write_text("noise files\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("sc") / "speech_commands_v0_02")


def _names(data, split):
    part = getattr(data, split)
    return [data.labels[i] for i in part.labels]


def test_registered_as_kws():
    assert datasets.get("speech-commands") is sc and sc.KIND == "kws"
    assert len(sc.WORDS_35) == len(set(sc.WORDS_35)) == 35
    assert set(sc.KEYWORDS) < set(sc.WORDS_35)


def test_twelve_labels(tree):
    data = sc.load(sc.Config(), tree, None)
    assert data.labels == (*sc.KEYWORDS, "_unknown_", "_silence_")
    n_kw = {"train": 10 * len(TRAIN_SPEAKERS), "val": 10, "test": 10}
    for split, n in n_kw.items():
        names = _names(data, split)
        assert sorted(w for w in names if w in sc.KEYWORDS) == sorted(sc.KEYWORDS * (n // 10))
        assert names.count("_unknown_") == math.ceil(0.1 * n)
        assert names.count("_silence_") == math.ceil(0.1 * n)
        part = getattr(data, split)
        assert part.audio.shape == (len(part), CLIP_SAMPLES) and part.audio.dtype == np.float32
    assert data.skipped.count == 0
    assert data.info["unknown_words"] == sorted(set(sc.WORDS_35) - set(sc.KEYWORDS))
    assert data.info["noise_files"] == ["pink_noise", "white_noise"]


def test_lists_are_honoured_and_speakers_are_the_hash_prefix(tree):
    data = sc.load(sc.Config(), tree, None)

    def words(split):
        return {s for s in getattr(data, split).speakers if not s.startswith("_")}

    assert words("val") == {VAL_SPEAKER}
    assert words("test") == {TEST_SPEAKER}
    assert words("train") == set(TRAIN_SPEAKERS)


def test_silence_is_cut_from_background_noise(tree):
    data = sc.load(sc.Config(silence_fraction=0.5), tree, None)
    silence = data.labels.index("_silence_")
    for split in ("train", "val", "test"):
        part = getattr(data, split)
        mask = part.labels == silence
        assert mask.sum() >= 5
        assert all(s.startswith("_background_noise_/") for s in part.speakers[mask])
        clips = part.audio[mask]
        assert np.abs(clips).max() <= 0.8 + 1e-6
        # noise, not padding: energy throughout the clip (a word clip is zero-padded at both ends)
        assert (np.abs(clips[:, :1000]).max(axis=1) > 0).mean() > 0.8


def test_seed_draws_the_unknowns_and_silence(tree):
    a = sc.load(sc.Config(unknown_fraction=0.5, seed=0), tree, None)
    b = sc.load(sc.Config(unknown_fraction=0.5, seed=0), tree, None)
    c = sc.load(sc.Config(unknown_fraction=0.5, seed=1), tree, None)
    np.testing.assert_array_equal(a.train.audio, b.train.audio)
    assert _names(a, "train").count("_unknown_") == 10
    assert not np.array_equal(a.train.audio, c.train.audio)


def test_thirty_five_labels(tree):
    data = sc.load(sc.Config(labels="35"), tree, None)
    assert data.labels == sc.WORDS_35
    assert sorted(_names(data, "train")) == sorted(sc.WORDS_35 * len(TRAIN_SPEAKERS))
    assert sorted(_names(data, "val")) == sorted(sc.WORDS_35)
    assert sorted(_names(data, "test")) == sorted(sc.WORDS_35)
    assert set(data.test.speakers) == {TEST_SPEAKER}


def test_labels_given_as_a_number(tree):
    assert sc.Config(labels=35).labels == "35"
    assert sc.load(sc.Config(labels=12), tree, None).labels[-1] == "_silence_"


def test_v1_style_tree_without_all_35_words(tmp_path):
    root = make_tree(tmp_path / "v1", words=(*sc.KEYWORDS, "bed", "cat"))
    data = sc.load(sc.Config(), root, None)
    assert data.info["unknown_words"] == ["bed", "cat"]
    with pytest.warns(UserWarning, match=r"23 of the 35 words .*backward"):
        data = sc.load(sc.Config(labels="35"), root, None)
    assert data.labels == tuple(w for w in sc.WORDS_35 if w in (*sc.KEYWORDS, "bed", "cat"))
    assert "backward" in data.info["missing_words"]
    assert data.info["words_from"] == "present folders"


def test_a_partial_tree_loads_the_words_it_has_or_the_words_named(tmp_path):
    root = make_tree(tmp_path / "mine", words=("yes", "no", "marvin", "sheila"))
    with pytest.warns(UserWarning, match="8 of the 10 words"):
        data = sc.load(sc.Config(), root, None)
    assert data.labels == ("yes", "no", "_unknown_", "_silence_")
    assert data.info["unknown_words"] == ["marvin", "sheila"]
    data = sc.load(sc.Config(words=("marvin", "yes")), root, None)
    assert data.labels == ("marvin", "yes", "_unknown_", "_silence_")
    assert sorted(set(_names(data, "train"))) == ["_silence_", "_unknown_", "marvin", "yes"]
    assert data.info["words_from"] == "suite"
    data = sc.load(sc.Config(labels="35", words=("sheila", "marvin")), root, None)
    assert data.labels == ("sheila", "marvin") and data.info["ignored_folders"] == ["no", "yes"]
    with pytest.raises(DataError, match="missing word folder.*wow"):
        sc.load(sc.Config(words=("yes", "wow")), root, None)
    with pytest.raises(DataError, match="none of the 35 word folders"):
        sc.load(sc.Config(labels="35"), make_tree(tmp_path / "other", words=("hello",)), None)


def test_bad_and_missing_files_are_skipped_and_counted(tmp_path):
    root = make_tree(tmp_path / "sc", words=(*sc.KEYWORDS, "bed"))
    (root / "yes" / f"{TRAIN_SPEAKERS[0]}_nohash_1.wav").write_bytes(b"")
    (root / "no" / "recording.wav").write_bytes(b"RIFF")  # not {speaker}_nohash_{n}.wav
    (root / "up" / f"{TRAIN_SPEAKERS[1]}_nohash_1.wav").write_bytes(b"\x01\x02" * 100)
    (root / "down" / f"{TEST_SPEAKER}_nohash_0.wav").unlink()  # still in testing_list.txt
    with pytest.warns(UserWarning, match="skipped"):
        data = sc.load(sc.Config(), root, None)
    assert data.skipped.by_reason() == {
        "empty file": 1,
        "bad name": 1,
        "not audio": 1,
        "missing": 1,
    }
    assert "down" not in _names(data, "test")
    assert len([w for w in _names(data, "train") if w in sc.KEYWORDS]) == 20


def test_layout_errors_are_clear(tmp_path):
    root = make_tree(tmp_path / "sc", words=sc.KEYWORDS)
    (root / sc.TEST_LIST).unlink()
    with pytest.raises(DataError, match=r"testing_list.txt.*speech-commands"):
        sc.load(sc.Config(), root, None)
    with pytest.raises(DataError, match="python -m bench data download speech-commands"):
        sc.load(sc.Config(), None, None)
    with pytest.raises(DataError, match="does not exist"):
        sc.load(sc.Config(), tmp_path / "missing", None)


def test_silence_needs_background_noise(tmp_path):
    root = make_tree(tmp_path / "sc", words=(*sc.KEYWORDS, "bed"), noise=False)
    with pytest.raises(DataError, match="_background_noise_.*silence_fraction=0"):
        sc.load(sc.Config(), root, None)
    data = sc.load(sc.Config(silence_fraction=0), root, None)
    assert "_silence_" not in _names(data, "train")
    (root / sc.NOISE_DIR).mkdir()
    sf.write(root / sc.NOISE_DIR / "short.wav", np.full(3 * 16000, 0.1), 16000)
    with pytest.raises(DataError, match="long enough"):
        sc.load(sc.Config(), root, None)


def test_folder_with_no_usable_audio_is_a_data_error(tmp_path):
    root = make_tree(tmp_path / "sc", words=sc.KEYWORDS, noise=False)
    for path in root.glob("*/*.wav"):
        path.write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable recordings"):
        sc.load(sc.Config(silence_fraction=0), root, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"labels": "20"}, "labels='20'"),
        ({"labels": True}, "labels=True"),
        ({"unknown_fraction": -0.1}, "unknown_fraction=-0.1"),
        ({"silence_fraction": 2}, "silence_fraction=2"),
        ({"seed": 1.5}, "seed=1.5"),
        ({"words": ("yes", "yes")}, "words=('yes', 'yes')"),
        ({"words": ("_silence_",)}, "words=('_silence_',)"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match="Received") as exc:
        sc.Config(**kwargs)
    assert field in str(exc.value)
