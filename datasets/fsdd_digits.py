"""Connected digits from real FSDD recordings (``fsdd-digits``): a TIDIGITS-like ASR corpus.

Each utterance is a string of ``min_digits``-``max_digits`` digits said by one speaker: that
speaker's FSDD recordings of the digits, end to end, with a random pause (``pause_ms``) before,
between and after them, and seeded coloured noise (``snr_db``) over the whole, so the pauses are
not digital silence. The transcript spells the digits: ``"three one four"``.

Recordings, not just strings, are kept apart between splits, so no test string reuses a take
heard in training:

- ``"official"``: FSDD's own rule, takes 0-4 of every speaker and digit make the test strings;
- ``"speaker"``: the held-out ``test_speakers`` (default: the alphabetically first) make them.

Validation strings come from a hash-chosen ~``val_fraction`` of the remaining recordings (the
rule of ``datasets.fsdd``), training strings from the rest. Files are found, named and decoded
as in ``datasets.fsdd``; bad files are skipped and counted. Everything random is drawn from
``seed``: the same seed gives the same corpus. Nothing is cached: the 2,500 files of the
five-speaker copy decode in about a second, and the default 2,700 strings take about as long.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from datasets import download as _download
from datasets import fsdd
from datasets.audio import load_clips
from datasets.base import SAMPLE_RATE, AsrData, AsrSplit, DataError, SkipLog
from datasets.synth.augment import NOISE_EXPONENTS, colored_noise
from results.errors import UserError

KIND = "asr"
NAME = "fsdd-digits"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = ("train", "val", "test")
# Each split draws its noise from one long bed per colour (~65 s): a random stretch per string
# costs a slice, where a fresh FFT per string of arbitrary length would dominate the load time.
NOISE_BED_SAMPLES = 1 << 20
# One recording of one digit: FSDD's range (a longer file would make a string of minutes).
CLIP_SECONDS_RANGE = fsdd.CLIP_SECONDS_RANGE


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the connected-digit corpus.

    Attributes:
        split: ``"official"`` (takes 0-4 make the test strings) or ``"speaker"`` (held-out
            speakers make them).
        test_speakers: speaker split only: the held-out speakers; empty = the alphabetically
            first speaker found. A single name is accepted.
        val_fraction: share of the non-test recordings kept for validation strings, in (0, 0.5].
        train_utterances, val_utterances, test_utterances: strings made per split (>= 1).
        min_digits, max_digits: length range of a string, 1 <= min <= max <= 20.
        pause_ms: ``(low, high)`` range of each pause in milliseconds, 0 <= low <= high.
        snr_db: ``(low, high)`` range of the signal-to-noise ratio of the added noise in dB.
        seed: fixes the validation recordings, the strings, pauses and noise.
    """

    split: str = "official"
    test_speakers: tuple[str, ...] = ()
    val_fraction: float = 0.1
    train_utterances: int = 2000
    val_utterances: int = 200
    test_utterances: int = 500
    min_digits: int = 2
    max_digits: int = 7
    pause_ms: tuple[float, float] = (50.0, 300.0)
    snr_db: tuple[float, float] = (20.0, 40.0)
    seed: int = 0

    def __post_init__(self) -> None:
        # The recording split is FSDD's: let its Config check (and coerce) those fields.
        base = fsdd.Config(
            split=self.split,
            test_speakers=self.test_speakers,
            val_fraction=self.val_fraction,
            seed=self.seed,
        )
        object.__setattr__(self, "test_speakers", base.test_speakers)
        for name in ("train_utterances", "val_utterances", "test_utterances"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("min_digits", self.min_digits, low=1, high=20)
        _check_int("max_digits", self.max_digits, low=self.min_digits, high=20)
        object.__setattr__(self, "pause_ms", _check_range("pause_ms", self.pause_ms, low=0.0))
        object.__setattr__(self, "snr_db", _check_range("snr_db", self.snr_db))

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "train": self.train_utterances,
            "val": self.val_utterances,
            "test": self.test_utterances,
        }


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise UserError(f"{name} must be an integer {bounds}. Received: {name}={value!r}")


def _check_range(name: str, value: object, low: float | None = None) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise UserError(f"{name} must be (low, high). Received: {name}={value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b)) or a > b or (low is not None and a < low):
        floor = "" if low is None else f", low >= {low:g}"
        raise UserError(
            f"{name} must be finite (low, high) with low <= high{floor}. Received: {name}={value!r}"
        )
    return (a, b)


def transcript(digits: list[int] | tuple[int, ...]) -> str:
    """``[3, 1, 4]`` -> ``"three one four"``."""
    return " ".join(DIGIT_WORDS[d] for d in digits)


def _assign(
    recs: list[fsdd.Recording], config: Config, root: os.PathLike
) -> tuple[dict[str, list[fsdd.Recording]], tuple[str, ...]]:
    """The recordings each split's strings are made of (disjoint), and the test speakers."""
    speakers = sorted({r.speaker for r in recs})
    if config.split == "official":
        test_speakers: tuple[str, ...] = ()
        is_test = {r.name for r in recs if r.take in fsdd.TEST_TAKES}
    else:
        test_speakers = fsdd.held_out_speakers(config.test_speakers, speakers, root)
        is_test = {r.name for r in recs if r.speaker in test_speakers}
    base = fsdd.Config(val_fraction=config.val_fraction, seed=config.seed)
    is_val = fsdd._pick_val([r for r in recs if r.name not in is_test], base)
    pools: dict[str, list[fsdd.Recording]] = {split: [] for split in SPLITS}
    for rec in recs:
        split = "test" if rec.name in is_test else "val" if rec.name in is_val else "train"
        pools[split].append(rec)
    for split, pool in pools.items():
        if not pool:
            raise DataError(
                f"no usable FSDD recordings under {root} for the {split} strings "
                f"(split={config.split!r}, {len(recs)} usable recordings in all)"
            )
    return pools, test_speakers


def _noise(bed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of ``n`` samples of the noise ``bed`` (wrapping around), at unit RMS."""
    start = int(rng.integers(len(bed)))
    noise = np.take(bed, np.arange(start, start + n), mode="wrap")
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def _make_split(
    pool: list[fsdd.Recording],
    clips: dict[str, np.ndarray],
    n: int,
    split: str,
    config: Config,
) -> AsrSplit:
    """``n`` strings from ``pool``: per string one speaker, random digits, pauses and noise."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(split)]))
    by_speaker: dict[str, dict[int, list[fsdd.Recording]]] = defaultdict(lambda: defaultdict(list))
    for rec in pool:  # pool is sorted by (speaker, digit, take): the lists are too
        by_speaker[rec.speaker][rec.digit].append(rec)
    speakers = sorted(by_speaker)
    colors = list(NOISE_EXPONENTS)
    beds = {color: colored_noise(rng, NOISE_BED_SAMPLES, color) for color in colors}
    audio, texts, who, ids = [], [], [], []
    for i in range(n):
        speaker = speakers[int(rng.integers(len(speakers)))]
        takes = by_speaker[speaker]
        digits_known = sorted(takes)
        length = int(rng.integers(config.min_digits, config.max_digits + 1))
        digits = [digits_known[int(rng.integers(len(digits_known)))] for _ in range(length)]
        chosen = [takes[d][int(rng.integers(len(takes[d])))] for d in digits]
        pauses = [
            np.zeros(int(rng.uniform(*config.pause_ms) / 1000 * SAMPLE_RATE), np.float32)
            for _ in range(length + 1)
        ]
        parts = [pauses[0]]
        for rec, pause in zip(chosen, pauses[1:], strict=True):
            parts += [clips[rec.name], pause]
        utterance = np.concatenate(parts).astype(np.float64)
        speech = np.concatenate([clips[r.name] for r in chosen]).astype(np.float64)
        power = max(float(np.mean(speech**2)), 1e-12)
        color = colors[int(rng.integers(len(colors)))]
        snr = rng.uniform(*config.snr_db)
        utterance += _noise(beds[color], len(utterance), rng) * np.sqrt(power / 10 ** (snr / 10))
        audio.append(np.clip(utterance, -1.0, 1.0).astype(np.float32))
        texts.append(transcript(digits))
        who.append(speaker)
        ids.append(f"{split}-{i:05d}:" + "+".join(r.name for r in chosen))
    return AsrSplit(
        audio=tuple(audio), transcripts=tuple(texts), speakers=tuple(who), ids=tuple(ids)
    )


def load(config: Config, data_dir: str | os.PathLike | None, cache_dir=None) -> AsrData:
    """Connected-digit strings from the FSDD recordings under ``data_dir``.

    Raises:
        DataError: no folder, no usable recording, a split left without recordings, or test
            speakers that are not there.
    """
    del cache_dir  # assembled in about a second (see the module docstring)
    root = _download.data_root(data_dir, NAME)
    skipped = SkipLog()
    recs = fsdd.scan(root, skipped)
    decoded = load_clips([r.path for r in recs], skipped, length=None, seconds=CLIP_SECONDS_RANGE)
    usable = [r for r, c in zip(recs, decoded, strict=True) if c is not None]
    clips = {r.name: c for r, c in zip(recs, decoded, strict=True) if c is not None}
    if not usable:
        raise DataError(
            f"no usable FSDD recordings under {root}: {len(recs)} named files decoded, "
            f"{skipped.count} files skipped ({skipped.by_reason() or 'none'}); expected WAV files "
            "named {digit}_{speaker}_{take}.wav (get them with "
            "`python -m bench data download fsdd-digits`)"
        )
    pools, test_speakers = _assign(usable, config, root)
    splits = {
        split: _make_split(pools[split], clips, config.sizes[split], split, config)
        for split in SPLITS
    }
    return AsrData(
        name=NAME,
        **splits,
        skipped=skipped,
        info={
            "split": config.split,
            "speakers": sorted({r.speaker for r in usable}),
            "test_speakers": list(test_speakers),
            "recordings": {split: len(pool) for split, pool in pools.items()},
            "digits": [config.min_digits, config.max_digits],
            "pause_ms": list(config.pause_ms),
            "snr_db": list(config.snr_db),
            "seed": config.seed,
            "data_dir": str(root),
        },
    )


def download(dest: Path) -> Path:
    """Download FSDD like ``datasets.fsdd.download``; the strings are assembled from it."""
    return fsdd.download(dest)
