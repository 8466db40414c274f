"""Audio decoding for every real corpus: one file in, one 16 kHz mono float32 array out.

``read_audio`` decodes WAV, FLAC and OGG with soundfile (libsndfile), down-mixes multi-channel
audio to mono (mean of the channels) and resamples with soxr when the file's rate differs from the
target. Anything that cannot give real samples (a missing or empty file, a truncated WAV, bytes that
are not audio, zero-length audio, NaN/inf samples) raises ``AudioError`` naming the file and the
reason, so a user can find and fix or delete it.

``load_clips`` decodes many files at once (in a thread pool: libsndfile and soxr release the GIL)
and turns each ``AudioError`` into an entry of a ``SkipLog``, so one bad file in a corpus of
thousands is counted and reported instead of crashing a sweep.

Reasons are written ``"category: detail"``; ``SkipLog.by_reason`` groups by the category.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from datasets.base import CLIP_SAMPLES, SAMPLE_RATE, SkipLog, fix_length, is_utf8_name
from results.errors import UserError

# What a corpus loader treats as an audio file when it walks a folder.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")

# Sample rates a speech recording can have; outside them a header is corrupt or the file is not
# speech, and resampling it to 16 kHz could need gigabytes (1 Hz -> 16 kHz multiplies by 16,000).
MIN_RATE, MAX_RATE = 1_000, 768_000

# RIFF/WAVE "data" sizes that streaming writers use for "unknown length"; not a truncation.
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)


class AudioError(UserError):
    """A file that cannot be decoded into audio; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep it picklable (worker processes, multiprocessing pools)
        return (type(self), (self.path, self.reason))


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, say whether its ``data`` chunk is shorter than its header declares.

    libsndfile silently reads whatever part of a truncated WAV is present (for example an
    interrupted copy or download), which would hide the damage; the header's declared size of the
    ``data`` chunk against the bytes actually in the file shows it. Returns a reason, or ``None``
    when the file is complete or is not a RIFF/WAVE file (libsndfile judges those).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                break
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                present = size - (pos + 8)
                if chunk_size not in _UNKNOWN_WAV_SIZES and present < chunk_size:
                    return (
                        f"truncated: WAV header declares {chunk_size} bytes of audio, "
                        f"the file holds {present}"
                    )
                return None
            pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    return None  # no data chunk found: libsndfile reports it


def _libsndfile_reason(err: Exception, *, opening: bool) -> str:
    """A short reason from a libsndfile error, without repeating the file name."""
    message = str(getattr(err, "error_string", "") or err).strip().rstrip(".")
    if "Format not recognised" in message:
        return "not audio: format not recognised (not a WAV, FLAC or OGG file)"
    return f"{'unreadable' if opening else 'corrupt'}: {message}"


def read_audio(path: str | os.PathLike, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` to a 1-D float32 array at ``target_rate`` Hz, mono, roughly in [-1, 1].

    Multi-channel audio is down-mixed by averaging the channels; a different sample rate is
    resampled with soxr (high quality). The length is the file's own (no cropping or padding).

    Raises:
        AudioError: the file is missing, empty, truncated, not audio, holds no samples or holds
            non-finite samples; the message names the file and says which.
    """
    path = Path(path)
    if target_rate <= 0:
        raise UserError(f"target_rate must be positive. Received: target_rate={target_rate}")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError(path, "missing: file not found") from None
    except OSError as err:
        raise AudioError(path, f"unreadable: {err.strerror or err}") from None
    if path.is_dir():
        raise AudioError(path, "not audio: a directory")
    if size == 0:
        raise AudioError(path, "empty file: 0 bytes")
    try:
        truncated = _wav_truncation(path)
    except OSError as err:
        raise AudioError(path, f"unreadable: {err.strerror or err}") from None
    if truncated:
        raise AudioError(path, truncated)
    try:
        with sf.SoundFile(path) as f:
            rate = f.samplerate
            try:
                data = f.read(dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as err:
                raise AudioError(path, _libsndfile_reason(err, opening=False)) from None
    except (sf.SoundFileError, RuntimeError) as err:
        raise AudioError(path, _libsndfile_reason(err, opening=True)) from None
    except OSError as err:
        raise AudioError(path, f"unreadable: {err.strerror or err}") from None
    if data.shape[0] == 0:
        raise AudioError(path, "no audio: the file holds 0 samples")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(path, f"wrong sample rate: {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    audio = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    if not np.isfinite(audio).all():
        raise AudioError(path, "non-finite: the file holds NaN or infinite samples")
    if rate != target_rate:
        audio = soxr.resample(audio, rate, target_rate, quality="HQ")
        if len(audio) == 0:
            raise AudioError(path, f"no audio: too short to resample from {rate} Hz")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _read_or_error(
    path: Path, target_rate: int, seconds: tuple[float, float] | None = None
) -> np.ndarray | AudioError:
    if not is_utf8_name(path):
        return AudioError(path, "bad name: not valid UTF-8 (rename the file)")
    try:
        audio = read_audio(path, target_rate)
    except AudioError as err:
        return err
    if seconds is not None:
        low, high = seconds
        length = len(audio) / target_rate
        if not low <= length <= high:
            return AudioError(
                path, f"length: {length:.2f} s, outside this corpus's {low:g}-{high:g} s"
            )
    return audio


def load_clips(
    paths: Iterable[str | os.PathLike],
    skipped: SkipLog,
    *,
    length: int | None = CLIP_SAMPLES,
    target_rate: int = SAMPLE_RATE,
    workers: int | None = None,
    seconds: tuple[float, float] | None = None,
) -> list[np.ndarray | None]:
    """Decode ``paths`` in parallel; one entry per path, ``None`` where the file was skipped.

    Each clip is centre-cropped or zero-padded to ``length`` samples (``fix_length``), or kept at
    its own length when ``length`` is None. A file that raises ``AudioError``, has a name that
    is not UTF-8, or lasts outside ``seconds`` (the corpus's ``(low, high)`` clip length range)
    is recorded in ``skipped`` (which warns with its name) in input order, so the log is
    deterministic.
    """
    paths = [Path(p) for p in paths]
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    if len(paths) < 64 or workers <= 1:
        results = [_read_or_error(p, target_rate, seconds) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda p: _read_or_error(p, target_rate, seconds), paths))
    out: list[np.ndarray | None] = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, AudioError):
            skipped.skip(path, result.reason)
            out.append(None)
        else:
            out.append(result if length is None else fix_length(result, length))
    return out


def stack(clips: Sequence[np.ndarray], length: int = CLIP_SAMPLES) -> np.ndarray:
    """Stack equal-length clips into a float32 ``[n, length]`` array (``[0, length]`` if none)."""
    if not clips:
        return np.zeros((0, length), np.float32)
    return np.stack(clips).astype(np.float32, copy=False)
