"""Audio decoding: mono 16 kHz float32 out of any WAV/FLAC/OGG, and a clear, named error for every
kind of bad file (empty, truncated, not audio, no samples), which ``load_clips`` turns into counted
skips instead of a crash."""

import pickle

import numpy as np
import pytest
import soundfile as sf

from datasets.audio import AudioError, load_clips, read_audio, stack
from datasets.base import CLIP_SAMPLES, SkipLog


def _tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wav(path, audio, rate=16000, subtype="PCM_16", **kwargs):
    sf.write(path, audio, rate, subtype=subtype, **kwargs)
    return path


def test_mono_16k_wav_round_trips(tmp_path):
    x = _tone(0.5, 16000)
    y = read_audio(_wav(tmp_path / "a.wav", x, subtype="FLOAT"))
    assert y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_array_equal(y, x)


def test_stereo_is_downmixed_to_the_mean_of_its_channels(tmp_path):
    left = _tone(0.25, 16000)
    right = -0.5 * left
    y = read_audio(_wav(tmp_path / "st.wav", np.stack([left, right], 1), subtype="FLOAT"))
    assert y.shape == left.shape
    np.testing.assert_allclose(y, 0.25 * left, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_other_rates_are_resampled_to_16k(tmp_path, rate):
    y = read_audio(_wav(tmp_path / f"r{rate}.wav", _tone(1.0, rate, freq=300.0), rate))
    assert abs(len(y) - 16000) <= 1
    # the tone survives resampling: its spectrum peaks at 300 Hz (1 Hz bins over 1 s)
    assert abs(int(np.argmax(np.abs(np.fft.rfft(y[:16000])))) - 300) <= 1


def test_target_rate_is_honoured(tmp_path):
    assert abs(len(read_audio(_wav(tmp_path / "a.wav", _tone(1.0, 16000)), 8000)) - 8000) <= 1


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"), [("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg")]
)
def test_flac_and_ogg_decode(tmp_path, fmt, subtype, ext):
    x = _tone(0.5, 16000)
    y = read_audio(_wav(tmp_path / f"a.{ext}", x, subtype=subtype, format=fmt))
    assert len(y) == len(x)
    assert np.corrcoef(x, y)[0, 1] > 0.99


def _error(path) -> AudioError:
    with pytest.raises(AudioError) as exc:
        read_audio(path)
    assert path.name in str(exc.value), "the error must name the file"
    assert exc.value.path == str(path)
    return exc.value


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert _error(path).reason.startswith("empty file")


def test_truncated_wav_is_detected(tmp_path):
    path = _wav(tmp_path / "cut.wav", _tone(1.0, 16000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # libsndfile alone would read the half silently
    err = _error(path)
    assert err.reason.startswith("truncated")
    assert "declares 32000 bytes" in err.reason


def test_wav_truncated_inside_its_header(tmp_path):
    path = _wav(tmp_path / "head.wav", _tone(0.1, 16000))
    path.write_bytes(path.read_bytes()[:30])
    assert _error(path).reason.startswith("unreadable")


def test_truncated_flac_is_an_error(tmp_path):
    path = _wav(
        tmp_path / "cut.flac", np.random.default_rng(0).uniform(-0.5, 0.5, 16000), format="FLAC"
    )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert _error(path).reason.split(":")[0] in ("corrupt", "unreadable")


def test_non_audio_bytes_are_named(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_bytes(b"these are not the samples you are looking for\n" * 20)
    err = _error(path)
    assert err.reason.startswith("not audio")
    assert str(err).startswith(str(path))


def test_zero_length_audio(tmp_path):
    path = _wav(tmp_path / "zero.wav", np.zeros(0, np.float32))
    assert _error(path).reason.startswith("no audio")


def test_missing_file_and_directory(tmp_path):
    assert _error(tmp_path / "nope.wav").reason.startswith("missing")
    (tmp_path / "dir.wav").mkdir()
    assert _error(tmp_path / "dir.wav").reason.startswith("not audio")


def test_non_finite_samples(tmp_path):
    x = _tone(0.1, 16000)
    x[10] = np.nan
    assert _error(_wav(tmp_path / "nan.wav", x, subtype="FLOAT")).reason.startswith("non-finite")


def test_audio_error_pickles_and_is_a_value_error():
    err = pickle.loads(pickle.dumps(AudioError("/x/a.wav", "empty file: 0 bytes")))
    assert isinstance(err, ValueError)
    assert (err.path, err.reason, str(err)) == (
        "/x/a.wav",
        "empty file: 0 bytes",
        "/x/a.wav: empty file: 0 bytes",
    )


def test_load_clips_skips_bad_files_counted_and_warned(tmp_path):
    good = _wav(tmp_path / "good.wav", _tone(0.3, 8000), 8000)
    long = _wav(tmp_path / "long.wav", _tone(2.0, 16000))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\x00\x01junk" * 50)
    skipped = SkipLog()
    with pytest.warns(UserWarning) as record:
        clips = load_clips([good, empty, long, junk], skipped)
    messages = [str(w.message) for w in record]
    assert any("empty.wav" in m for m in messages) and any("junk.wav" in m for m in messages)
    assert [c is None for c in clips] == [False, True, False, True]
    assert all(len(c) == CLIP_SAMPLES and c.dtype == np.float32 for c in clips if c is not None)
    assert skipped.count == 2
    assert skipped.by_reason() == {"empty file": 1, "not audio": 1}
    assert [f for f, _ in skipped.entries] == [str(empty), str(junk)]


def test_load_clips_in_parallel_keeps_input_order(tmp_path):
    paths = []
    for i in range(80):  # above the threshold where a thread pool is used
        paths.append(
            _wav(
                tmp_path / f"{i}.wav", np.full(400 + i, (i + 1) / 100, np.float32), subtype="FLOAT"
            )
        )
    clips = load_clips(paths, SkipLog(), length=None)
    assert [len(c) for c in clips] == [400 + i for i in range(80)]
    np.testing.assert_allclose([c[0] for c in clips], [(i + 1) / 100 for i in range(80)], rtol=1e-6)
    assert stack(load_clips(paths[:3], SkipLog())).shape == (3, CLIP_SAMPLES)
    assert stack([]).shape == (0, CLIP_SAMPLES)
