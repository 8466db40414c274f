"""Bad input at scale (hypothesis): random bytes, truncated files, huge or absurd headers, wrong
sample rates and empty transcripts fed to the audio decoder and the corpus loaders. Every case
ends in a clean result or a clear error naming the file (``AudioError``, or a skip that names it;
``DataError`` when nothing is usable), never another exception, a hang or a crash of the sweep.
"""

import contextlib
import io
import re
import signal
import struct
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from datasets import fsdd
from datasets import librispeech as ls
from datasets.audio import AudioError, read_audio
from datasets.base import DataError, normalize_transcript, out_of_alphabet

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
HANG_SECONDS = 20
UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")  # LibriSpeech's SPEAKER-CHAPTER-NNNN
SCRATCH: list[Path] = []  # the module's temporary folder (pytest cleans old ones up)


@pytest.fixture(scope="module", autouse=True)
def scratch(tmp_path_factory):
    SCRATCH[:] = [tmp_path_factory.mktemp("bad-input")]


def _folder(prefix: str) -> Path:
    """A fresh folder per hypothesis example (function-scoped fixtures are not reset between
    examples)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH[0]))


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    """Fail (instead of hanging the test run) when the body takes longer than ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds}s: a hang")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def decode_contract(path: Path) -> np.ndarray | None:
    """Decode ``path``: a finite mono float32 array, or None after an AudioError naming it."""
    with no_hang():
        try:
            audio = read_audio(path)
        except AudioError as err:
            assert str(path) in str(err) and err.reason
            return None
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    assert np.isfinite(audio).all()
    return audio


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def _write(data: bytes, suffix: str) -> Path:
    folder = _folder("clip-")
    path = folder / f"clip{suffix}"
    path.write_bytes(data)
    return path


SUFFIXES = st.sampled_from([".wav", ".flac", ".ogg"])


@SETTINGS
@given(data=st.binary(max_size=4096), suffix=SUFFIXES)
def test_random_bytes(data, suffix):
    decode_contract(_write(data, suffix))


@SETTINGS
@given(
    n=st.integers(1, 4000),
    keep=st.floats(0.0, 1.0),
    fmt=st.sampled_from([("WAV", "PCM_16", ".wav"), ("WAV", "FLOAT", ".wav"),
                         ("FLAC", "PCM_16", ".flac")]),
)  # fmt: skip
def test_truncated_files(n, keep, fmt):
    whole = wav_bytes(np.sin(np.arange(n) / 7.0).astype(np.float32) * 0.5, 16000, fmt[1], fmt[0])
    cut = whole[: int(len(whole) * keep)]
    audio = decode_contract(_write(cut, fmt[2]))
    if fmt[0] == "WAV" and len(cut) < len(whole):
        assert audio is None  # a WAV cut short is reported, never half-read silently


@SETTINGS
@given(
    channels=st.integers(0, 0xFFFF),
    rate=st.integers(0, 0xFFFFFFFF),
    bits=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 0xFFFF]),
    fmt_size=st.sampled_from([16, 18, 40, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
    data_size=st.integers(0, 0xFFFFFFFF),
    tag=st.sampled_from([1, 3, 0xFFFE, 0x55, 0]),
    payload=st.binary(max_size=2048),
)
def test_huge_or_absurd_wav_headers(channels, rate, bits, fmt_size, data_size, tag, payload):
    align = max(1, channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    body = b"fmt " + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", data_size)
    riff = b"RIFF" + struct.pack("<I", (4 + len(body) + len(payload)) & 0xFFFFFFFF) + b"WAVE"
    decode_contract(_write(riff + body + payload, ".wav"))


@SETTINGS
@given(
    rate=st.one_of(st.integers(1, 1000), st.integers(1000, 400_000), st.integers(400_000, 10**7)),
    n=st.integers(1, 3000),
    channels=st.integers(1, 3),
)
def test_wrong_sample_rates_resample_or_are_refused(rate, n, channels):
    x = (0.3 * np.sin(np.arange(n * channels) / 5.0)).astype(np.float32).reshape(n, channels)
    audio = decode_contract(_write(wav_bytes(x, rate, "FLOAT"), ".wav"))
    plausible = 1_000 <= rate <= 768_000
    assert (audio is not None) == plausible or (audio is None and n * 16000 / rate < 1)
    if audio is not None:  # resampled to 16 kHz: the duration is kept
        assert abs(len(audio) - n * 16000 / rate) <= 2


# ---- corpus loaders ---------------------------------------------------------------------------

GOOD = wav_bytes((0.3 * np.sin(np.arange(2000) / 3.0)).astype(np.float32), 8000)
FLAC = wav_bytes((0.2 * np.sin(np.arange(4000) / 4.0)).astype(np.float32), 16000, fmt="FLAC")
BAD_FILE = st.one_of(
    st.binary(max_size=600),
    st.integers(0, len(GOOD) - 1).map(lambda k: GOOD[:k]),
    st.just(b""),
)


@SETTINGS
@given(bad=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6), BAD_FILE), max_size=8))
def test_fsdd_loader_skips_and_names_every_bad_file(bad):
    root = _folder("fsdd-")
    for speaker in ("ann", "ben"):
        for digit in range(3):
            for take in range(7):
                (root / f"{digit}_{speaker}_{take}.wav").write_bytes(GOOD)
    broken = set()
    for digit, take, data in bad:
        path = root / f"{digit}_ann_{take}.wav"
        path.write_bytes(data)
        broken.add(str(path))
    with no_hang(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = fsdd.load(fsdd.Config(), root)
        except DataError as err:  # e.g. every test take of a digit broken: said clearly
            assert str(root) in str(err) or "split" in str(err)
            return
    skipped = {f["file"] for f in data.skipped.summary()["files"]}
    assert skipped == broken
    assert sum(len(getattr(data, s)) for s in ("train", "val", "test")) == 42 - len(broken)


TRANSCRIPT = st.one_of(
    st.just(""),
    st.just("   "),
    st.text(max_size=30),
    st.text(alphabet="ABCDEFG '", min_size=1, max_size=20),
)


def _expected_utterances(texts, broken) -> dict[str, tuple[str, str | None]]:
    """What the loader must make of each written utterance: ``uid -> (why skipped or "",
    transcript)``, worked out from the inputs alone (``str.splitlines`` and
    ``normalize_transcript`` are the only rules shared with the loader)."""
    out = {}
    for i, (text, bad) in enumerate(zip(texts, broken, strict=True)):
        uid = f"19-198-{i:04d}"
        first = f"{uid} {_row_text(text)}".splitlines()[0]  # a line break in the text ends it
        transcript = normalize_transcript(first.strip().partition(" ")[2])
        if not transcript:
            out[uid] = ("empty transcript", None)
        elif out_of_alphabet(transcript):
            out[uid] = ("out of alphabet", None)
        elif bad:
            out[uid] = ("corrupt", None)  # the truncated FLAC loses sync
        else:
            out[uid] = ("", transcript)
    return out


def _row_text(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


@SETTINGS
@given(
    texts=st.lists(TRANSCRIPT, min_size=3, max_size=3),
    broken=st.lists(st.booleans(), min_size=3, max_size=3),
    raw_trans=st.one_of(st.none(), st.binary(max_size=200)),
)
@example(texts=["  THE  CAT ", "A\u2028B", "DIGIT 4"], broken=[False, False, False], raw_trans=None)
@example(texts=["ONE", "", "TWO  THREE"], broken=[True, False, False], raw_trans=None)
def test_librispeech_loader_with_empty_transcripts_and_bad_audio(texts, broken, raw_trans):
    """Every FLAC ends up loaded or skipped under its own name, exactly once. With a readable
    transcript file, which one, why, and the loaded transcript are predicted from the inputs;
    with a garbage one, at least nothing is lost or counted twice."""
    root = _folder("ls-")
    rows = [f"19-198-{i:04d} {_row_text(text)}" for i, text in enumerate(texts)]
    for row in rows[1:]:  # a text that breaks its line must not start another utterance's line
        pieces = row.splitlines()[1:]
        assume(not any(UTT_ID.match(p.strip().partition(" ")[0]) for p in pieces))
    flacs = {}
    for subset in ("train-x", "dev-x", "test-x"):
        folder = root / subset / "19" / "198"
        folder.mkdir(parents=True)
        for i, bad in enumerate(broken):
            path = folder / f"19-198-{i:04d}.flac"
            path.write_bytes(FLAC[: len(FLAC) // 3] if bad else FLAC)
            flacs[str(path)] = subset
        trans = folder / "19-198.trans.txt"
        trans.write_bytes(raw_trans if raw_trans is not None else "\n".join(rows).encode())
    config = ls.Config(train="train-x", val="dev-x", test="test-x")
    expected = _expected_utterances(texts, broken) if raw_trans is None else None
    with no_hang(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = ls.load(config, root)
        except DataError as err:  # no usable utterance in a split: the folder is named
            assert str(root) in str(err)
            if expected is not None:
                assert not any(t for _, t in expected.values()), "usable utterances refused"
            return
    skipped = [f for f, _ in data.skipped.entries if f in flacs]
    splits = {"train-x": data.train, "dev-x": data.val, "test-x": data.test}
    loaded = [str(root / s / "19/198" / f"{u}.flac") for s, sp in splits.items() for u in sp.ids]
    assert sorted(skipped + loaded) == sorted(flacs), "a FLAC was dropped or counted twice"
    for entry in data.skipped.summary()["files"]:
        assert entry["file"].startswith(str(root)) and entry["reason"]
    for split in splits.values():
        assert all(text and text == " ".join(text.split()) for text in split.transcripts)
    if expected is None:
        return
    usable = {uid: t for uid, (why, t) in expected.items() if not why}
    reasons = {f: r for f, r in data.skipped.entries}
    for split in (data.train, data.val, data.test):
        assert split.ids == tuple(sorted(usable))
        assert split.transcripts == tuple(usable[uid] for uid in split.ids)
        assert all(len(a) == 4000 and a.dtype == np.float32 for a in split.audio)
    for path in flacs:
        why = expected[Path(path).stem][0]
        assert (path in reasons) == bool(why), path
        if why:
            assert why in reasons[path], (path, reasons[path])


@pytest.mark.parametrize("rate", [1, 10, 10**7])
def test_absurd_sample_rates_are_refused_by_name(tmp_path, rate):
    path = tmp_path / f"r{rate}.wav"
    path.write_bytes(wav_bytes(np.zeros((64, 1), np.float32), rate, "FLOAT"))
    with pytest.raises(AudioError, match="sample rate") as err:
        read_audio(path)
    assert str(path) in str(err.value)


def test_links_are_followed_and_a_broken_one_is_named_and_counted(tmp_path):
    """A link to a recording is read like the file; a link whose target is gone is skipped
    with its name and reason ("broken link"), in every loader that scans folders, and through
    prepare (whose fingerprint stats each file)."""
    import os

    from test_fsdd import make_tree
    from test_librispeech import CONFIG, SUBSETS, make_subset
    from test_speech_commands import make_tree as make_commands

    import datasets
    from datasets import speech_commands as sc

    folder = make_tree(tmp_path / "fsdd" / "recordings", speakers=("alice", "bob"), takes=range(7))
    os.symlink(tmp_path / "gone.wav", folder / "5_alice_9.wav")
    os.symlink(folder / "5_alice_1.wav", folder / "5_alice_8.wav")
    with pytest.warns(UserWarning, match=r"5_alice_9\.wav: broken link: its target .*gone\.wav"):
        data = datasets.load("fsdd", {}, tmp_path / "fsdd")
    assert data.skipped.by_reason() == {"broken link": 1}
    assert sum(len(getattr(data, s)) for s in ("train", "val", "test")) == 2 * 10 * 7 + 1

    commands = make_commands(tmp_path / "speech_commands_v0_02", words=sc.WORDS_35)
    os.symlink(tmp_path / "gone.wav", commands / "yes" / "zzzzzzzz_nohash_0.wav")
    with pytest.warns(UserWarning, match="zzzzzzzz_nohash_0.wav: broken link"):
        assert sc.load(sc.Config(), commands).skipped.by_reason() == {"broken link": 1}

    for name in SUBSETS.values():
        make_subset(tmp_path / "ls", name)
    chapter = next((tmp_path / "ls" / SUBSETS["train"]).rglob("*.trans.txt")).parent
    os.symlink(tmp_path / "gone.flac", chapter / f"{chapter.parent.name}-{chapter.name}-0099.flac")
    with pytest.warns(UserWarning, match="0099.flac: broken link"):
        assert ls.load(CONFIG, tmp_path / "ls").skipped.by_reason() == {"broken link": 1}
