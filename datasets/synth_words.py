"""Synthetic spoken words: the embedded, offline keyword-spotting corpus (``synth-words``).

Each word of the vocabulary (by default the 35 words of Google Speech Commands v2) is spoken by
eSpeak NG (the library bundled in the ``espeakng-loader`` wheel) in hundreds of voice identities
(English accent x speaker variant) with per-clip rate, pitch and pitch range, then augmented with
reverb, time shift, coloured noise and gain, resampled to 16 kHz and placed in a 1-s clip.
Voice identities are split ~70/15/15 between train, val and test, so the test split measures
generalization to unseen voices. The corpus is a pure function of its ``Config`` (minus
``workers``): it is generated once in worker processes and cached as ``.npz``; later loads read
the cache.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from datasets.base import CLIP_SAMPLES, AudioSplit, KwsData, SkipLog, check_counts
from datasets.synth import augment, cache, espeak, generate, voices
from results.errors import UserError

KIND = "kws"
NAME = "synth-words"
# Clip length: generated words are cut or padded to exactly one second (no files to check).
CLIP_SECONDS_RANGE = (1.0, 1.0)
# Bump when the generated audio changes for the same Config (synthesis, augmentation, voices),
# so stale caches are not reused.
GENERATOR_VERSION = 1

SPEECH_COMMANDS_WORDS: tuple[str, ...] = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Profile:
    """A corpus size: the default vocabulary and how many clips each word gets per split."""

    words: tuple[str, ...]
    train: int
    val: int
    test: int

    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "test": self.test}


PROFILES: dict[str, Profile] = {
    # For tests and the smoke suite: generated in about two seconds, yet enough training steps
    # for a small model to learn four words in a few epochs.
    "tiny": Profile(words=("yes", "no", "left", "right"), train=128, val=16, test=32),
    # The quick suite: 35 words x 300 clips (10,500 s of audio), ~10 s to make with 2 workers.
    "default": Profile(words=SPEECH_COMMANDS_WORDS, train=200, val=40, test=60),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the synthetic corpus; everything but ``workers`` decides the audio.

    Attributes:
        words: the vocabulary, one class per word, in label order; ``None`` takes the profile's
            (the 35 Speech Commands words for ``default``, 4 of them for ``tiny``).
        profile: corpus size, a key of ``PROFILES`` (``"tiny"`` or ``"default"``).
        seed: fixes voices, prosody, augmentation and the voice split; same seed, same bits.
        snr_db: ``(low, high)`` signal-to-noise ratio range in dB of the added noise.
        workers: processes that generate the words; 0 means one per CPU. Does not change the
            audio and is not part of the cache key.
    """

    words: tuple[str, ...] | None = None
    profile: str = "default"
    seed: int = 0
    snr_db: tuple[float, float] = (5.0, 30.0)
    workers: int = 0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UserError(
                f"Config.profile: unknown profile {self.profile!r}; known: {', '.join(PROFILES)}"
            )
        words = PROFILES[self.profile].words if self.words is None else self.words
        object.__setattr__(self, "words", _check_words(words))
        object.__setattr__(self, "snr_db", augment.check_snr(self.snr_db))
        check_counts(self, ("seed", "workers"))

    def key(self) -> dict:
        """What decides the audio: the config minus ``workers``, plus generator versions."""
        return {
            "generator": GENERATOR_VERSION,
            "espeakng_loader": cache.package_version("espeakng-loader"),
            "soxr": cache.package_version("soxr"),
            "words": list(self.words),
            "profile": self.profile,
            "sizes": PROFILES[self.profile].sizes(),
            "seed": self.seed,
            "snr_db": list(self.snr_db),
        }


def _check_words(words: object) -> tuple[str, ...]:
    if isinstance(words, str) or not isinstance(words, (tuple, list)):
        raise UserError(f"Config.words must be a list of words, got {words!r}")
    if not words:
        raise UserError("Config.words is empty; give at least two words")
    for word in words:
        if not isinstance(word, str) or not word.strip() or word != word.strip():
            raise UserError(f"Config.words: {word!r} is not a word (non-empty text, no padding)")
    if len(words) < 2:
        raise UserError(f"Config.words needs at least two words to classify, got {list(words)}")
    duplicates = sorted({w for w in words if words.count(w) > 1})
    if duplicates:
        raise UserError(f"Config.words has duplicates: {duplicates}")
    return tuple(words)


def cache_path(config: Config, cache_dir: Path | str) -> Path:
    """``<cache_dir>/synth-words/<hash of config.key()>.npz``."""
    return cache.keyed_path(cache_dir, NAME, config.key())


def load(config: Config, data_dir: object, cache_dir: Path | str) -> KwsData:
    """The corpus of ``config``: read from the cache, or generated and cached first.

    Args:
        config: the corpus options.
        data_dir: ignored; the corpus is generated, not read.
        cache_dir: root of the dataset cache (``synth-words/`` is made inside).
    """
    del data_dir
    path = cache_path(config, cache_dir)
    t0 = time.perf_counter()
    arrays, meta, from_cache = cache.load_or_make(path, lambda: _generate(config))
    splits = {
        name: AudioSplit(
            audio=_to_float(arrays.pop(f"{name}_audio")),
            labels=arrays[f"{name}_labels"],
            speakers=arrays[f"{name}_speakers"],
        )
        for name in voices.SPLITS
    }
    info = {
        "profile": config.profile,
        "seed": config.seed,
        "snr_db": list(config.snr_db),
        "clips_per_word": PROFILES[config.profile].sizes(),
        "voices": {name: len(meta["identities"][name]) for name in voices.SPLITS},
        "generation_seconds": meta["generation_seconds"],
        "from_cache": from_cache,
        "load_seconds": round(time.perf_counter() - t0, 3),
        "cache_file": str(path),
    }
    return KwsData(name=NAME, labels=config.words, **splits, skipped=SkipLog(), info=info)


def _to_float(audio: np.ndarray) -> np.ndarray:
    """int16 clips to float32 in [-1, 1), converted in place to keep the peak memory low."""
    out = audio.astype(np.float32)
    out *= np.float32(1.0 / 32768.0)
    return out


def _generate(config: Config) -> tuple[dict[str, np.ndarray], dict]:
    """Make every word in worker processes and stack the clips into split arrays."""
    _, data_path = espeak.library_paths()
    identities = voices.split(voices.available(data_path), config.seed)
    plan = generate.Plan(
        sizes=PROFILES[config.profile].sizes(),
        identities=identities,
        seed=config.seed,
        snr_db=config.snr_db,
    )
    workers = config.workers or generate.default_workers()
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    with tqdm(
        total=len(config.words),
        desc=f"{NAME}: synthesizing",
        unit="word",
        file=sys.stderr,
        disable=not generate.progress_enabled(),
    ) as bar:
        made = generate.make_words(config.words, plan, workers, on_done=lambda _: bar.update())
    arrays: dict[str, np.ndarray] = {}
    for split in voices.SPLITS:  # stacked in vocabulary order, whatever order workers finished
        n = plan.sizes[split]
        arrays[f"{split}_audio"] = np.concatenate(
            [made[w].audio.pop(split) for w in config.words]
        ).reshape(-1, CLIP_SAMPLES)
        arrays[f"{split}_labels"] = np.repeat(np.arange(len(config.words), dtype=np.int32), n)
        arrays[f"{split}_speakers"] = np.array(
            [v for w in config.words for v in made[w].voices[split]], dtype=str
        )
    meta = {
        "key": config.key(),
        "identities": {name: list(ids) for name, ids in identities.items()},
        "generation_seconds": round(time.perf_counter() - t0, 3),
    }
    return arrays, meta
