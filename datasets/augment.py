"""On-the-fly waveform augmentation of training batches: speed, time shift, background noise.

The standard keyword-spotting recipe (honk: time shift and background noise; NeMo/QuartzNet:
speed perturbation; SpecAugment lives in the model, ``models.frontend.SpecAugment``), applied to
each training batch inside the tf.data pipeline with stateless random ops. Every batch draws its
seed from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``: the same seed gives
the same batches, epoch after epoch, and each epoch sees new draws. These are TensorFlow ops
(imported where used, so the config imports without TensorFlow): ``datasets.pipeline`` and the
suite refuse them by name on the other backends.

Noise comes from a folder of recordings (Speech Commands' ``_background_noise_`` layout: long WAV
files, looked up in ``noise_dir/_background_noise_`` and else in ``noise_dir`` itself), or, with
no folder, from a bank of seeded white, pink and brown noise (``datasets.synth.augment``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from datasets.audio import AUDIO_SUFFIXES, read_audio
from datasets.base import SAMPLE_RATE, DataError
from datasets.synth.augment import colored_noise
from results.errors import UserError

if TYPE_CHECKING:
    import tensorflow as tf

NOISE_FOLDER = "_background_noise_"
SYNTH_NOISE_SECONDS = 10.0
SYNTH_NOISE_COLORS = ("white", "pink", "brown")


@dataclasses.dataclass(frozen=True)
class Augment:
    """Training-time augmentation of one cell (``[train.augment]`` of a suite); all off by default.

    Attributes:
        time_shift_ms: each clip moves by a uniform shift in [-time_shift_ms, +time_shift_ms],
            zero-filled (honk uses 100 ms).
        noise_prob: share of clips mixed with a background-noise excerpt.
        noise_snr_db: [low, high] range the mixing SNR (dB) is drawn from, uniformly.
        noise_dir: folder of noise recordings; empty: a seeded synthetic noise bank.
        speed: speed factors drawn uniformly per clip (e.g. [0.9, 1.0, 1.1]); a clip resampled by
            linear interpolation about its centre, keeping its length. Empty: no speed change.
        time_masks, time_mask_frames: SpecAugment: masks in time, each up to this many frames.
        freq_masks, freq_mask_bins: SpecAugment: masks in frequency, each up to this many bins.
        seed: added to the cell's seed for the augmentation draws.
    """

    time_shift_ms: float = 0.0
    noise_prob: float = 0.0
    noise_snr_db: tuple[float, ...] = (5.0, 20.0)
    noise_dir: str = ""
    speed: tuple[float, ...] = ()
    time_masks: int = 0
    time_mask_frames: int = 0
    freq_masks: int = 0
    freq_mask_bins: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_snr_db", tuple(self.noise_snr_db))
        object.__setattr__(self, "speed", tuple(self.speed))
        checks = [
            (self.time_shift_ms >= 0, f"time_shift_ms must be >= 0: {self.time_shift_ms}"),
            (0 <= self.noise_prob <= 1, f"noise_prob must be in [0, 1]: {self.noise_prob}"),
            (
                len(self.noise_snr_db) == 2 and self.noise_snr_db[0] <= self.noise_snr_db[1],
                f"noise_snr_db must be [low, high] with low <= high: {list(self.noise_snr_db)}",
            ),
            (
                all(0.5 <= s <= 2.0 for s in self.speed),
                f"speed factors must be in [0.5, 2]: {list(self.speed)}",
            ),
        ]
        for name in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_bins", "seed"):
            value = getattr(self, name)
            checks.append(
                (isinstance(value, int) and value >= 0, f"{name} must be an integer >= 0: {value}")
            )
        for ok, message in checks:
            if not ok:
                raise UserError(f"train.augment.{message.replace(':', '. Received:', 1)}")

    @property
    def waveform(self) -> bool:
        """Whether anything happens in the input pipeline (SpecAugment is in the model)."""
        return self.time_shift_ms > 0 or self.noise_prob > 0 or any(s != 1 for s in self.speed)

    @property
    def spec_augment(self) -> tuple[int, int, int, int] | None:
        """SpecAugment's (time_masks, time_mask_frames, freq_masks, freq_mask_bins), or None."""
        masks = (self.time_masks, self.time_mask_frames, self.freq_masks, self.freq_mask_bins)
        on = (self.time_masks and self.time_mask_frames) or (
            self.freq_masks and self.freq_mask_bins
        )
        return masks if on else None


def noise_bank(augment: Augment, seed: int, samples: int) -> np.ndarray:
    """Noise excerpts source ``[files, length]`` (float32, length >= ``samples``): the recordings
    of ``augment.noise_dir``, or seeded synthetic noise when it is empty."""
    if augment.noise_dir:
        root = Path(augment.noise_dir).expanduser()
        folder = root / NOISE_FOLDER if (root / NOISE_FOLDER).is_dir() else root
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise DataError(f"train.augment.noise_dir: no audio files in {folder}")
        clips = [read_audio(p) for p in files]
    else:
        rng = np.random.default_rng([seed, 0xA6])
        n = int(SYNTH_NOISE_SECONDS * SAMPLE_RATE)
        clips = [colored_noise(rng, n, color) * 0.1 for color in SYNTH_NOISE_COLORS]
    length = max(samples, max(len(c) for c in clips))
    # A recording shorter than a clip is tiled, so every excerpt is noise throughout.
    return np.stack([np.resize(c, length) for c in clips]).astype(np.float32)


def batch_fn(augment: Augment, noise: np.ndarray | None):
    """``(audio [batch, samples], labels, seed) -> (augmented audio, labels)`` for ``tf.data``."""
    import tensorflow as tf

    shift = int(round(augment.time_shift_ms * SAMPLE_RATE / 1000))
    speeds = tf.constant(augment.speed or (1.0,), tf.float32)
    bank = tf.constant(noise) if noise is not None and augment.noise_prob > 0 else None
    low, high = augment.noise_snr_db

    def apply(audio, labels, seed):
        seeds = tf.random.experimental.stateless_split(tf.stack([seed, seed // 7 + 1]), 6)
        n = tf.shape(audio)[0]
        if augment.speed or shift:  # one resampling does both
            pick = tf.random.stateless_uniform([n], seeds[0], 0, len(speeds), tf.int32)
            offsets = tf.random.stateless_uniform([n], seeds[1], -shift, shift + 1, tf.int32)
            audio = resample(audio, tf.gather(speeds, pick), offsets)
        if bank is not None:
            which = tf.random.stateless_uniform([n], seeds[2], 0, tf.shape(bank)[0], tf.int32)
            room = tf.shape(bank)[1] - tf.shape(audio)[1] + 1
            start = tf.random.stateless_uniform([n], seeds[3], 0, room, tf.int32)
            snr = tf.random.stateless_uniform([n], seeds[4], low, high + 1e-6)
            mix = tf.random.stateless_uniform([n], seeds[5]) < augment.noise_prob
            excerpt = _excerpts(bank, which, start, tf.shape(audio)[1])
            audio = mix_at_snr(audio, excerpt, snr, mix)
        return audio, labels

    return apply


def resample(audio: tf.Tensor, factors: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
    """Play clip ``i`` ``factors[i]`` times faster about its centre (linear interpolation; 1.1
    shortens the sound, 0.9 lengthens it), then move it ``offsets[i]`` samples later; zero
    outside the clip, same length. Speed and shift in one gather pair."""
    import tensorflow as tf

    length = tf.shape(audio)[1]
    t = tf.cast(tf.range(length), tf.float32)[None, :]
    centre = tf.cast(length - 1, tf.float32) / 2
    shifted = t - centre - tf.cast(offsets, tf.float32)[:, None]
    pos = centre + shifted * tf.cast(factors, tf.float32)[:, None]
    left = tf.floor(pos)
    frac = pos - left
    inside = (pos >= 0) & (pos <= tf.cast(length - 1, tf.float32))
    i0 = tf.clip_by_value(tf.cast(left, tf.int32), 0, length - 1)
    i1 = tf.minimum(i0 + 1, length - 1)
    x0, x1 = _rows_gather(audio, i0), _rows_gather(audio, i1)
    return tf.where(inside, x0 + (x1 - x0) * frac, 0.0)


def change_speed(audio: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
    """``resample`` without a shift."""
    import tensorflow as tf

    return resample(audio, factors, tf.zeros(tf.shape(audio)[:1], tf.int32))


def time_shift(audio: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
    """Move clip ``i`` by ``offsets[i]`` samples (positive: later), zero-filled, same length."""
    import tensorflow as tf

    return resample(audio, tf.ones(tf.shape(audio)[:1]), offsets)


def _rows_gather(audio: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
    """``audio[i, idx[i, j]]`` as one gather from the flat batch (faster than ``batch_dims``)."""
    import tensorflow as tf

    rows = tf.range(tf.shape(audio)[0])[:, None] * tf.shape(audio)[1]
    return tf.gather(tf.reshape(audio, [-1]), rows + idx)


def _excerpts(bank: tf.Tensor, which: tf.Tensor, start: tf.Tensor, length) -> tf.Tensor:
    """``[batch, length]`` excerpts: row ``which[i]`` of ``bank`` from ``start[i]`` (one gather
    from the flat bank, never a copy of whole recordings)."""
    import tensorflow as tf

    first = which * tf.shape(bank)[1] + start
    return tf.gather(tf.reshape(bank, [-1]), first[:, None] + tf.range(length)[None, :])


def mix_at_snr(audio, noise, snr_db, mix) -> tf.Tensor:
    """``audio + g * noise`` with ``g`` giving ``snr_db`` (signal over noise power) where ``mix``;
    a silent clip gets no noise (its SNR is undefined)."""
    import tensorflow as tf

    power = tf.reduce_mean(tf.square(audio), axis=1)
    noise_power = tf.maximum(tf.reduce_mean(tf.square(noise), axis=1), 1e-10)
    gain = tf.sqrt(power / (noise_power * tf.pow(10.0, snr_db / 10)))
    gain = tf.where(mix, gain, 0.0)
    return audio + gain[:, None] * noise


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The SNR (dB) of ``noisy`` against ``clean`` (for tests and checks)."""
    noise = noisy - clean
    return 10 * math.log10(float(np.mean(clean**2)) / max(float(np.mean(noise**2)), 1e-20))
