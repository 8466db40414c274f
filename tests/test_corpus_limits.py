"""Corpus limits: every loader states its clip length range; a file outside it (a ten-minute
recording among one-second digits) and a file whose name is not UTF-8 are skipped, named (escaped)
and counted, never cropped into a "digit" or refusing the whole corpus."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_fsdd import make_tree

import datasets
from datasets import fsdd, fsdd_digits

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"train_utterances": 20, "val_utterances": 5, "test_utterances": 10}
LONG = "4_alice_5.wav"  # replaced by a ten-minute recording
BAD_NAME = b"7_al\xffce_5.wav"  # Latin-1 bytes, not UTF-8 (e.g. from a foreign zip archive)


def _wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("limits")
    folder = make_tree(root / "recordings", speakers=("alice", "bob"), takes=range(7))
    (folder / LONG).write_bytes(_wav_bytes(600.0))
    with open(os.path.join(os.fsencode(folder), BAD_NAME), "wb") as f:
        f.write(_wav_bytes(0.3))
    return root


@pytest.mark.parametrize("name", sorted(datasets.DATASETS))
def test_every_loader_states_its_clip_length_range(name):
    low, high = datasets.get(name).CLIP_SECONDS_RANGE
    assert 0 <= low <= high <= 600


def _check_skips(skipped, total_named: int):
    reasons = dict(skipped.entries)
    long_file = next(f for f in reasons if f.endswith(LONG))
    assert reasons[long_file] == "length: 600.00 s, outside this corpus's 0.05-5 s"
    bad = next(f for f in reasons if f.endswith("7_al\\xffce_5.wav"))
    assert reasons[bad].startswith("bad name: not valid UTF-8")
    assert skipped.by_reason() == {"length": 1, "bad name": 1}
    assert skipped.count == 2 and total_named == 2 * 10 * 7 + 1


def test_fsdd_skips_the_ten_minute_file_and_the_bad_name(tree):
    with pytest.warns(UserWarning) as record:
        data = fsdd.load(fsdd.Config(), tree)
    assert len(record) == 2  # one warning per skipped file, each naming it
    assert any(
        re.search(r"skipped .*4_alice_5\.wav: length: 600\.00 s", str(w.message)) for w in record
    )
    _check_skips(data.skipped, len(fsdd.scan(tree, fsdd.SkipLog())))
    sizes = sum(len(getattr(data, s)) for s in ("train", "val", "test"))
    assert sizes == 2 * 10 * 7 - 1  # every other file kept
    assert data.summary()["skipped"]["by_reason"] == {"length": 1, "bad name": 1}


def test_fsdd_digits_strings_stay_seconds_long(tree):
    with pytest.warns(UserWarning) as record:
        data = fsdd_digits.load(fsdd_digits.Config(**SMALL), tree)
    assert any("4_alice_5.wav: length: 600.00 s" in str(w.message) for w in record)
    _check_skips(data.skipped, len(fsdd.scan(tree, fsdd.SkipLog())))
    longest = max(len(a) for s in ("train", "val", "test") for a in getattr(data, s).audio)
    assert longest / 16_000 < 7 * 1.0 + 8 * 0.3 + 1  # max digits x short clips + pauses


def test_cli_prints_one_line_per_skipped_file(tree):
    out = subprocess.run(
        [sys.executable, "-m", "bench", "data", "make", "fsdd", "--data-dir", str(tree)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if not line.startswith("fsdd: prepared ")]
    assert len(lines) == 2, out.stderr  # and the one line of the prepare, counting them
    assert all(line.startswith("warning: skipped ") for line in lines)
    assert re.search(r"fsdd: prepared \d+ records \(2 skipped\)", out.stderr), out.stderr
    assert any("7_al\\xffce_5.wav: bad name" in line for line in lines)
    assert "2 files skipped" in out.stdout


def test_speech_commands_skips_a_clip_longer_than_its_range(tmp_path):
    """A 3-second clip among Speech Commands' one-second ones is outside (0.05, 2.0) s."""
    from test_speech_commands import make_tree as make_commands

    from datasets import speech_commands as sc

    root = make_commands(tmp_path / "speech_commands_v0_02", words=sc.WORDS_35)
    victim = next((root / "yes").glob("*.wav"))
    sf.write(victim, np.zeros(3 * 16000, np.float32) + 0.1, 16000)
    with pytest.warns(UserWarning, match="yes/.*length: 3.00 s, outside this corpus's 0.05-2 s"):
        data = sc.load(sc.Config(), root)
    reasons = dict(data.skipped.entries)
    assert [r for f, r in reasons.items() if f.endswith(f"yes/{victim.name}")] == [
        "length: 3.00 s, outside this corpus's 0.05-2 s"
    ]
    assert data.skipped.by_reason() == {"length": 1}


def test_librispeech_skips_an_utterance_longer_than_its_range(tmp_path):
    """A 61-second FLAC is outside LibriSpeech's (0.1, 60) s: skipped, named, the rest kept."""
    from test_librispeech import CONFIG, SUBSETS, make_subset

    from datasets import librispeech as ls

    for name in SUBSETS.values():
        make_subset(tmp_path, name)
    victim = next((tmp_path / SUBSETS["test"]).rglob("*-0001.flac"))
    sf.write(victim, np.zeros(61 * 16000, np.float32) + 0.1, 16000, format="FLAC")
    with pytest.warns(UserWarning, match="length: 61.00 s, outside this corpus's 0.1-60 s"):
        data = ls.load(CONFIG, tmp_path)
    assert data.skipped.by_reason() == {"length": 1}
    assert victim.stem not in data.test.ids and len(data.test) == 4
