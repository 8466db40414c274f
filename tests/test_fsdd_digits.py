"""Connected-digit strings from FSDD: recordings kept apart between splits, transcripts that match
the digits said, lengths that add up, determinism, bad files counted; and (marked ``corpus``) the
real five-speaker copy."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import datasets
from datasets import fsdd_digits as fd
from datasets.audio import read_audio
from datasets.base import SAMPLE_RATE, DataError, out_of_alphabet

SPEAKERS = ("alice", "bob", "carol")
TAKES = range(7)  # takes 0-4 make the official test strings
SPLITS = ("train", "val", "test")
SMALL = {"train_utterances": 40, "val_utterances": 10, "test_utterances": 20}


def make_tree(folder: Path, speakers=SPEAKERS, takes=TAKES, rate: int = 8000) -> Path:
    """A mini FSDD: ``{digit}_{speaker}_{take}.wav`` tones whose length differs per file."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for take in takes:
                n = rate // 5 + 40 * digit + 8 * take + s
                t = np.arange(n) / rate
                freq = 200 + 40 * digit + 7 * s + take
                sf.write(
                    folder / f"{digit}_{speaker}_{take}.wav", 0.3 * np.sin(6.283 * freq * t), rate
                )
    return folder


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("fsdd") / "recordings").parent


def _parts(uid: str) -> list[str]:
    """The recording names an utterance id lists: ``test-00003:3_bob_1+1_bob_4`` -> names."""
    return uid.split(":", 1)[1].split("+")


def test_registered_as_asr():
    assert datasets.get("fsdd-digits") is fd and fd.KIND == "asr"


def test_official_split_keeps_recordings_apart(tree):
    data = fd.load(fd.Config(**SMALL), tree, None)
    assert {s: len(getattr(data, s)) for s in SPLITS} == {"train": 40, "val": 10, "test": 20}
    used = {s: {p for uid in getattr(data, s).ids for p in _parts(uid)} for s in SPLITS}
    assert not used["train"] & used["test"]
    assert not used["train"] & used["val"]
    assert not used["val"] & used["test"]
    assert all(int(name.split("_")[2]) < 5 for name in used["test"])
    assert all(int(name.split("_")[2]) >= 5 for name in used["train"] | used["val"])
    assert data.info["recordings"]["test"] == len(SPEAKERS) * 10 * 5
    assert data.skipped.count == 0


def test_transcripts_speakers_and_lengths_match_the_parts(tree):
    config = fd.Config(**SMALL)
    data = fd.load(config, tree, None)
    root = tree / "recordings"
    low_ms, high_ms = config.pause_ms
    counts = []
    for split in SPLITS:
        part = getattr(data, split)
        for clip, text, speaker, uid in zip(
            part.audio, part.transcripts, part.speakers, part.ids, strict=True
        ):
            names = _parts(uid)
            digits = [int(n.split("_")[0]) for n in names]
            assert text == " ".join(fd.DIGIT_WORDS[d] for d in digits) and not out_of_alphabet(text)
            assert {n.split("_")[1] for n in names} == {speaker}  # one speaker per string
            assert config.min_digits <= len(digits) <= config.max_digits
            speech = sum(len(read_audio(root / f"{n}.wav")) for n in names)
            pauses = len(clip) - speech  # one pause before, between and after the digits
            k = len(digits) + 1
            assert k * int(low_ms * 16) - k <= pauses <= k * int(high_ms * 16)
            assert clip.dtype == np.float32 and np.abs(clip).max() <= 1.0
            counts.append(len(digits))
    assert set(counts) >= {2, 7}  # the whole length range occurs


def test_pauses_carry_noise_not_digital_silence(tree):
    data = fd.load(fd.Config(**SMALL), tree, None)
    lead = data.train.audio[0][: int(0.04 * SAMPLE_RATE)]  # inside the first pause (>= 50 ms)
    assert 0 < np.sqrt(np.mean(lead**2)) < 0.05


def test_same_seed_same_corpus_other_seed_other_strings(tree):
    a = fd.load(fd.Config(**SMALL), tree, None)
    b = fd.load(fd.Config(**SMALL), tree / "recordings", None)
    for split in SPLITS:
        pa, pb = getattr(a, split), getattr(b, split)
        assert pa.ids == pb.ids and pa.transcripts == pb.transcripts
        assert all(np.array_equal(x, y) for x, y in zip(pa.audio, pb.audio, strict=True))
    c = fd.load(fd.Config(**SMALL, seed=1), tree, None)
    assert c.train.transcripts != a.train.transcripts


def test_speaker_split_holds_out_whole_speakers(tree):
    data = fd.load(fd.Config(split="speaker", **SMALL), tree, None)
    assert set(data.test.speakers) == {"alice"}
    assert "alice" not in set(data.train.speakers) | set(data.val.speakers)
    chosen = fd.load(fd.Config(split="speaker", test_speakers="carol", **SMALL), tree, None)
    assert set(chosen.test.speakers) == {"carol"} and chosen.info["test_speakers"] == ["carol"]
    with pytest.raises(DataError, match="zed.*alice, bob, carol"):
        fd.load(fd.Config(split="speaker", test_speakers=("zed",)), tree, None)


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = make_tree(tmp_path / "recordings", speakers=("alice", "bob"))
    (root / "notes.wav").write_bytes(b"RIFF")
    (root / "3_alice_99.wav").write_bytes(b"")
    (root / "4_bob_98.wav").write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.warns(UserWarning, match="skipped"):
        data = fd.load(fd.Config(**SMALL), tmp_path, None)
    assert data.skipped.by_reason() == {"bad name": 1, "empty file": 1, "not audio": 1}
    named = {Path(f).name for f, _ in data.skipped.entries}
    assert named == {"notes.wav", "3_alice_99.wav", "4_bob_98.wav"}
    used = {p for s in SPLITS for uid in getattr(data, s).ids for p in _parts(uid)}
    assert not used & {"3_alice_99", "4_bob_98"}


def test_nothing_usable_is_a_data_error(tmp_path):
    (tmp_path / "1_a_1.wav").write_bytes(b"")
    (tmp_path / "2_a_2.wav").write_bytes(b"garbage" * 30)
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no usable FSDD recordings"):
        fd.load(fd.Config(), tmp_path, None)
    with pytest.raises(DataError, match="bench data download fsdd-digits"):
        fd.load(fd.Config(), tmp_path / "nowhere", None)


def test_a_split_without_recordings_is_a_data_error(tmp_path):
    make_tree(tmp_path, speakers=("ann",), takes=range(5))  # official: only test takes
    with pytest.raises(DataError, match="for the train strings"):
        fd.load(fd.Config(**SMALL), tmp_path, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "random"}, "split='random'"),
        ({"test_speakers": ("george",)}, "test_speakers=('george',)"),
        ({"val_fraction": 0.9}, "val_fraction=0.9"),
        ({"train_utterances": 0}, "train_utterances=0"),
        ({"test_utterances": 2.5}, "test_utterances=2.5"),
        ({"min_digits": 0}, "min_digits=0"),
        ({"min_digits": 5, "max_digits": 3}, "max_digits=3"),
        ({"max_digits": 30}, "max_digits=30"),
        ({"pause_ms": (300, 50)}, "pause_ms=(300, 50)"),
        ({"pause_ms": (-5, 50)}, "pause_ms=(-5, 50)"),
        ({"snr_db": "loud"}, "snr_db='loud'"),
        ({"seed": "one"}, "seed='one'"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match="Received") as exc:
        fd.Config(**kwargs)
    assert field in str(exc.value)


def test_config_coerces_toml_values():
    config = fd.Config(pause_ms=[100, 200], snr_db=[10, 20], test_speakers=[], split="official")
    assert config.pause_ms == (100.0, 200.0) and config.snr_db == (10.0, 20.0)
    assert config.test_speakers == ()


# The real five-speaker copy (../shared/data/fsdd or $RESDEPTH_FSDD).
REAL = Path(
    os.environ.get("RESDEPTH_FSDD", Path(__file__).resolve().parents[2] / "shared/data/fsdd")
)


@pytest.mark.corpus
def test_real_copy():
    if not REAL.is_dir():
        pytest.skip(f"FSDD copy not found at {REAL} (set RESDEPTH_FSDD)")
    data = fd.load(fd.Config(), REAL, None)
    assert data.skipped.count == 0
    assert data.info["speakers"] == ["george", "jackson", "nicolas", "theo", "yweweler"]
    assert data.info["recordings"]["test"] == 5 * 10 * 5
    assert data.summary()["sizes"] == {"train": 2000, "val": 200, "test": 500}
    mean = np.mean([len(a) for a in data.test.audio]) / SAMPLE_RATE
    assert 1.5 < mean < 4.5
