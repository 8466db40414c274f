"""FSDD loader: the official take split, held-out speakers, bad files skipped and counted, clear
errors for a missing or unusable folder; and (marked ``corpus``) the real five-speaker copy."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import datasets
from datasets import fsdd
from datasets.base import CLIP_SAMPLES, DataError

SPEAKERS = ("alice", "bob", "carol")
TAKES = range(7)  # takes 0-4 are the official test set, 5-6 train/val


def make_tree(folder: Path, speakers=SPEAKERS, takes=TAKES, rate: int = 8000) -> Path:
    """A mini FSDD: ``{digit}_{speaker}_{take}.wav``, 0.25 s tones at ``rate`` (8 kHz like FSDD)."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(rate // 4) / rate
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for take in takes:
                freq = 200 + 40 * digit + 7 * s + take
                sf.write(
                    folder / f"{digit}_{speaker}_{take}.wav",
                    0.3 * np.sin(2 * np.pi * freq * t),
                    rate,
                )
    return folder


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fsdd")
    make_tree(root / "recordings")
    (root / "README.md").write_text("not audio, ignored\n")
    return root


def _pairs(split):
    return sorted(zip(split.speakers.tolist(), split.labels.tolist(), strict=True))


def test_registered_as_kws():
    module = datasets.get("fsdd")
    assert module is fsdd and fsdd.KIND == "kws"


def test_official_split_puts_takes_0_to_4_in_test(tree):
    data = fsdd.load(fsdd.Config(), tree, None)
    assert data.labels == tuple("0123456789")
    assert len(data.test) == len(SPEAKERS) * 10 * 5
    # every (speaker, digit) has exactly its five test takes in test, the other two elsewhere
    test_pairs = _pairs(data.test)
    assert all(test_pairs.count((s, d)) == 5 for s in SPEAKERS for d in range(10))
    rest = _pairs(data.train) + _pairs(data.val)
    assert all(rest.count((s, d)) == 2 for s in SPEAKERS for d in range(10))
    assert 0 < len(data.val) < len(data.train)
    for split in (data.train, data.val, data.test):
        assert split.audio.shape == (len(split), CLIP_SAMPLES)
        assert split.audio.dtype == np.float32 and split.labels.dtype == np.int32
        assert np.abs(split.audio).max() > 0.1  # the 8 kHz tones survived resampling
    assert data.skipped.count == 0
    assert data.info["speakers"] == list(SPEAKERS)
    assert data.summary()["sizes"]["test"] == 150


def test_recordings_folder_itself_works_and_loads_are_deterministic(tree):
    a = fsdd.load(fsdd.Config(), tree / "recordings", None)
    b = fsdd.load(fsdd.Config(), str(tree), None)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, split).audio, getattr(b, split).audio)
        np.testing.assert_array_equal(getattr(a, split).labels, getattr(b, split).labels)


def test_seed_changes_the_validation_subset(tree):
    a = fsdd.load(fsdd.Config(seed=0), tree, None)
    b = fsdd.load(fsdd.Config(seed=1), tree, None)
    assert _pairs(a.val) != _pairs(b.val) or not np.array_equal(a.val.audio, b.val.audio)
    np.testing.assert_array_equal(a.test.audio, b.test.audio)


def test_speaker_split_holds_out_the_first_speaker_by_default(tree):
    data = fsdd.load(fsdd.Config(split="speaker"), tree, None)
    assert set(data.test.speakers) == {"alice"}
    assert "alice" not in set(data.train.speakers) | set(data.val.speakers)
    assert len(data.test) == 10 * len(TAKES)
    assert data.info["test_speakers"] == ["alice"]


def test_speaker_split_with_chosen_speakers(tree):
    data = fsdd.load(fsdd.Config(split="speaker", test_speakers=["carol", "bob"]), tree, None)
    assert set(data.test.speakers) == {"bob", "carol"}
    assert set(data.train.speakers) == {"alice"}
    assert fsdd.Config(split="speaker", test_speakers="bob").test_speakers == ("bob",)


def test_speaker_split_errors_name_the_speakers(tree):
    with pytest.raises(DataError, match="zed.*alice, bob, carol"):
        fsdd.load(fsdd.Config(split="speaker", test_speakers=("zed",)), tree, None)
    with pytest.raises(DataError, match="left for training"):
        fsdd.load(fsdd.Config(split="speaker", test_speakers=SPEAKERS), tree, None)


def test_any_set_of_speakers(tmp_path):
    make_tree(tmp_path / "x", speakers=("lucas",), takes=range(8))
    data = fsdd.load(fsdd.Config(), tmp_path, None)
    assert set(data.train.speakers) == {"lucas"} and len(data.test) == 50


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = make_tree(tmp_path / "recordings", speakers=("alice", "bob"))
    (root / "notes.wav").write_bytes(b"RIFF")  # bad name (checked before decoding)
    (root / "3_alice_99.wav").write_bytes(b"")
    (root / "4_bob_98.wav").write_bytes(b"<html>404 not found</html>" * 10)
    good = (root / "5_bob_6.wav").read_bytes()
    (root / "5_bob_97.wav").write_bytes(good[: len(good) // 2])
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "0_alice_0.wav").write_bytes((root / "0_alice_0.wav").read_bytes())
    (tmp_path / "LICENSE.txt").write_text("ignored: not audio")
    with pytest.warns(UserWarning, match="skipped"):
        data = fsdd.load(fsdd.Config(), tmp_path, None)
    assert data.skipped.count == 5
    assert data.skipped.by_reason() == {
        "bad name": 1,
        "duplicate": 1,
        "empty file": 1,
        "not audio": 1,
        "truncated": 1,
    }
    named = {Path(f).name for f, _ in data.skipped.entries}
    assert named == {"notes.wav", "0_alice_0.wav", "3_alice_99.wav", "4_bob_98.wav", "5_bob_97.wav"}
    assert len(data.test) + len(data.train) + len(data.val) == 2 * 10 * len(TAKES)
    assert data.summary()["skipped"]["count"] == 5


def test_folder_with_no_usable_audio_is_a_data_error(tmp_path):
    (tmp_path / "1_a_1.wav").write_bytes(b"")
    (tmp_path / "2_a_2.wav").write_bytes(b"garbage" * 30)
    (tmp_path / "hello.wav").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable FSDD recordings"):
        fsdd.load(fsdd.Config(), tmp_path, None)


def test_missing_data_dir_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="python -m bench data download fsdd"):
        fsdd.load(fsdd.Config(), None, None)
    with pytest.raises(DataError, match=r"nowhere.*does not exist.*bench data download fsdd"):
        fsdd.load(fsdd.Config(), tmp_path / "nowhere", None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "random"}, "split='random'"),
        ({"val_fraction": 0}, "val_fraction=0"),
        ({"val_fraction": 0.9}, "val_fraction=0.9"),
        ({"seed": "one"}, "seed='one'"),
        ({"test_speakers": ("george",)}, "test_speakers=('george',)"),
        ({"split": "speaker", "test_speakers": ("a_b",)}, "test_speakers="),
        ({"split": "speaker", "test_speakers": ("a", "a")}, "duplicates"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match="Received|duplicates") as exc:
        fsdd.Config(**kwargs)
    assert field in str(exc.value)


# The real five-speaker copy (../shared/data/fsdd or $RESDEPTH_FSDD).
REAL = Path(
    os.environ.get("RESDEPTH_FSDD", Path(__file__).resolve().parents[2] / "shared/data/fsdd")
)


@pytest.fixture(scope="module")
def real_root() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"FSDD copy not found at {REAL} (set RESDEPTH_FSDD)")
    return REAL


@pytest.mark.corpus
def test_real_copy_official_split(real_root):
    data = fsdd.load(fsdd.Config(), real_root, None)
    assert len(data.train) + len(data.val) + len(data.test) == 2500
    assert data.skipped.count == 0
    assert data.info["speakers"] == ["george", "jackson", "nicolas", "theo", "yweweler"]
    assert len(data.test) == 5 * 10 * 5
    assert len(data.train) + len(data.val) == 2250
    assert 150 < len(data.val) < 300


@pytest.mark.corpus
def test_real_copy_speaker_split(real_root):
    data = fsdd.load(fsdd.Config(split="speaker"), real_root, None)
    assert set(data.test.speakers) == {"george"} and len(data.test) == 500
    assert len(set(data.train.speakers)) == 4
