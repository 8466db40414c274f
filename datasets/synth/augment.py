"""Seeded augmentation that turns one clean synthesized word into a realistic 1-s clip
(``augment``), or a sentence into a padded clip of its own length (``augment_utterance``).

eSpeak NG speaks every word cleanly, at one level, starting at sample 0. Real keyword clips have
background noise, room reverberation, varying loudness and the word anywhere in the second, so a
model trained on clean synthetic speech would learn shortcuts. Every random choice comes from the
``numpy.random.Generator`` passed in, so a clip is a pure function of its seed.
"""

from __future__ import annotations

import math

import numpy as np

from datasets.base import CLIP_SAMPLES, SAMPLE_RATE
from results.errors import UserError

# Noise colours: spectral power ~ 1 / f**exponent (white 0, pink 1, brown 2).
NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
# Share of clips that get a synthetic room reverb, and its decay time (RT60) in seconds.
REVERB_PROB = 0.5
RT60_SECONDS = (0.15, 0.6)
# Direct-to-reverberant energy ratio in dB: low values sound like a big, live room.
DRR_DB = (0.0, 12.0)
# Peak level of the finished clip in dBFS.
PEAK_DBFS = (-24.0, -1.0)
# Silence detection: frames more than this far below the loudest frame are silence.
TRIM_DB = 50.0
TRIM_FRAME_SECONDS = 0.01
TRIM_MARGIN_SECONDS = 0.02


def trim_silence(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cut leading and trailing silence, keeping a short margin around the word."""
    frame = max(1, int(sample_rate * TRIM_FRAME_SECONDS))
    n_frames = len(audio) // frame
    if n_frames == 0:
        return audio
    frames = audio[: n_frames * frame].reshape(n_frames, frame).astype(np.float64)
    energy = (frames**2).mean(axis=1)
    peak = energy.max()
    if peak <= 0:
        return audio[:0]
    active = np.flatnonzero(energy >= peak * 10 ** (-TRIM_DB / 10))
    margin = int(sample_rate * TRIM_MARGIN_SECONDS)
    start = max(0, active[0] * frame - margin)
    stop = min(len(audio), (active[-1] + 1) * frame + margin)
    return audio[start:stop]


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """Unit-RMS noise of ``n`` samples with the spectral slope of ``color`` (white/pink/brown)."""
    white = rng.standard_normal(n)
    exponent = NOISE_EXPONENTS[color]
    if exponent == 0.0:
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n)
        freqs[0] = freqs[1]  # no infinite DC gain
        shaped = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
        shaped -= shaped.mean()
    return shaped / np.sqrt(np.mean(shaped**2))


def colored_noise_any(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """``colored_noise`` for any length: made at the next power of two, cut to ``n`` samples and
    scaled back to unit RMS. For clips of arbitrary length (sentences, digit strings), where an
    FFT of a large prime length would be orders of magnitude slower."""
    if n <= 0:
        return np.zeros(0)
    noise = colored_noise(rng, 1 << (n - 1).bit_length(), color)[:n]
    return noise / max(np.sqrt(np.mean(noise**2)), 1e-12)


def room_impulse_response(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A synthetic room: a direct-path impulse plus exponentially decaying noise (the tail)."""
    rt60 = rng.uniform(*RT60_SECONDS)
    drr_db = rng.uniform(*DRR_DB)
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(len(t)) * np.exp(-6.908 * t / rt60)  # -60 dB at t = rt60
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0  # direct path
    return tail


def convolve(audio: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Full linear convolution through the FFT (fast for room-length kernels)."""
    n = len(audio) + len(kernel) - 1
    size = 1 << (n - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(kernel, size), size)
    return out[:n]


def augment(
    speech: np.ndarray,
    rng: np.random.Generator,
    snr_db: tuple[float, float],
    n: int = CLIP_SAMPLES,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Reverb (sometimes), random placement in ``n`` samples, coloured noise at a random SNR, gain.

    Args:
        speech: the trimmed word at ``sample_rate``, float.
        rng: the clip's generator; the only source of randomness.
        snr_db: range the signal-to-noise ratio (speech power over noise power) is drawn from.

    Returns:
        float32 ``[n]`` with its peak between ``PEAK_DBFS`` (never clipping).
    """
    speech = np.asarray(speech, dtype=np.float64)
    if rng.random() < REVERB_PROB:
        speech = convolve(speech, room_impulse_response(rng, sample_rate))
    if len(speech) > n:  # only a long word with a long tail: keep the word, drop the tail
        speech = speech[:n]
    clip = np.zeros(n)
    offset = int(rng.integers(0, n - len(speech) + 1))  # time shift
    clip[offset : offset + len(speech)] = speech
    speech_power = max(np.mean(speech**2), 1e-12)
    color = list(NOISE_EXPONENTS)[int(rng.integers(len(NOISE_EXPONENTS)))]
    snr = rng.uniform(*snr_db)
    clip += colored_noise(rng, n, color) * np.sqrt(speech_power / 10 ** (snr / 10))
    peak = max(np.max(np.abs(clip)), 1e-12)
    clip *= 10 ** (rng.uniform(*PEAK_DBFS) / 20) / peak
    return clip.astype(np.float32)


def augment_utterance(
    speech: np.ndarray,
    rng: np.random.Generator,
    snr_db: tuple[float, float],
    pad_seconds: tuple[float, float],
    max_samples: int,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Like ``augment``, for a sentence: the clip's length follows the speech instead of 1 s.

    Reverb (sometimes), then silence of ``pad_seconds`` (drawn separately) before and after the
    speech, coloured noise over the whole clip at a random SNR, and a random peak level. The clip
    is cut at ``max_samples``; a caller that keeps the dry speech within ``max_samples`` minus
    twice the largest pad loses at most part of a reverb tail.

    Args:
        speech: the trimmed utterance at ``sample_rate``, float.
        rng: the utterance's generator; the only source of randomness.
        snr_db: range the signal-to-noise ratio (speech power over noise power) is drawn from.
        pad_seconds: ``(low, high)`` range of the leading and of the trailing silence.
        max_samples: the longest clip returned.

    Returns:
        float32 ``[lead + len(speech) (+ reverb tail) + trail]`` capped at ``max_samples``, its
        peak between ``PEAK_DBFS``.
    """
    speech = np.asarray(speech, dtype=np.float64)
    if rng.random() < REVERB_PROB:
        speech = convolve(speech, room_impulse_response(rng, sample_rate))
    lead, trail = (int(rng.uniform(*pad_seconds) * sample_rate) for _ in range(2))
    n = min(max_samples, lead + len(speech) + trail)
    speech = speech[: max(0, n - lead)]
    clip = np.zeros(n)
    clip[lead : lead + len(speech)] = speech
    speech_power = max(np.mean(speech**2), 1e-12) if len(speech) else 1e-12
    color = list(NOISE_EXPONENTS)[int(rng.integers(len(NOISE_EXPONENTS)))]
    snr = rng.uniform(*snr_db)
    clip += colored_noise_any(rng, n, color) * np.sqrt(speech_power / 10 ** (snr / 10))
    peak = max(np.max(np.abs(clip)), 1e-12)
    clip *= 10 ** (rng.uniform(*PEAK_DBFS) / 20) / peak
    return clip.astype(np.float32)


def check_snr(snr_db: object) -> tuple[float, float]:
    """Validate a ``(low, high)`` SNR range in dB for a corpus ``Config``."""
    try:
        low, high = (float(v) for v in snr_db)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise UserError(f"Config.snr_db must be (low, high) in dB, got {snr_db!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise UserError(
            f"Config.snr_db must be finite (low, high) with low <= high, got {snr_db!r}"
        )
    return (low, high)
