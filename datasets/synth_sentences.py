"""Synthetic spoken sentences: the embedded, offline ASR corpus (``synth-sentences``).

Sentences are drawn from a seeded grammar (``datasets.synth.grammars``: requests to a voice
assistant and everyday phrases over a few hundred words, numbers spelled as words) and spoken by
eSpeak NG with the voices, per-utterance rate/pitch variation and augmentation of ``synth-words``,
but each clip is as long as its sentence: trimmed speech with 50-300 ms of silence on each side,
at most ``MAX_SECONDS``. The transcript is the sentence as spoken, normalized over the CTC
alphabet.

Splits: voice identities are split ~70/15/15 (``voices.split``), so val and test are spoken only
by voices never heard in training. Every vocabulary word occurs in the training sentences, and
val/test sentences are drawn again when they repeat a training sentence (up to a limit), so
the test WER measures unseen voices and, mostly, unseen sentences.

The corpus is a pure function of its ``Config`` (minus ``workers``): generated once in worker
processes, one fixed chunk of sentences per task, and cached atomically as ``.npz``; the same seed
gives the same bits for any worker count.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from datasets.base import SAMPLE_RATE, AsrData, AsrSplit, SkipLog, check_counts
from datasets.synth import augment, cache, espeak, generate, grammar, utterances, voices
from datasets.synth.grammars import GRAMMARS
from results.errors import UserError

KIND = "asr"
NAME = "synth-sentences"
# Bump when the audio changes for the same Config (synthesis, augmentation, chunking); grammar
# edits need no bump, the grammar's digest is in the cache key.
GENERATOR_VERSION = 1
# Longest clip, and the silence drawn before and after the speech.
MAX_SECONDS = 5.0
PAD_SECONDS = (0.05, 0.3)
# Utterance length: generated, at most MAX_SECONDS (no files to check).
CLIP_SECONDS_RANGE = (0.0, MAX_SECONDS)
# Seed streams of the sentence texts (the audio of each sentence has its own, see generate).
_TEXT_STREAM = 0x7E47


@dataclasses.dataclass(frozen=True)
class Profile:
    """A corpus size: which grammar, and how many utterances each split gets."""

    grammar: str
    train: int
    val: int
    test: int

    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "test": self.test}


PROFILES: dict[str, Profile] = {
    # Tests and the smoke suite: the 20-word grammar, 72 utterances, a few seconds to make.
    "tiny": Profile(grammar="mini", train=48, val=8, test=16),
    # The test that speech recognition learns: the mini grammar with enough utterances that a
    # small CTC model spells words within a minute of training (tests/test_asr_e2e.py).
    "small": Profile(grammar="mini", train=600, val=40, test=60),
    # The quick suite: ~500 words, 8,800 utterances of 1-5 s (2.3 s on average, 5.6 hours of
    # audio), made in about a minute with 2 workers. At the same training budget a small CTC model
    # generalized clearly better from 8,000 training utterances than from 4,000 (it memorizes
    # clips: WER on fresh clips was the same for seen and unseen voices).
    "default": Profile(grammar="home", train=8000, val=300, test=500),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Options of the synthetic sentence corpus; everything but ``workers`` decides the audio.

    Attributes:
        profile: corpus size and grammar, a key of ``PROFILES`` (``"tiny"``, ``"small"`` or
            ``"default"``).
        seed: fixes the sentences, voices, prosody, augmentation and the voice split.
        snr_db: ``(low, high)`` signal-to-noise ratio range in dB of the added noise.
        workers: processes that synthesize; 0 means one per CPU. Does not change the audio and is
            not part of the cache key.
    """

    profile: str = "default"
    seed: int = 0
    snr_db: tuple[float, float] = (10.0, 30.0)
    workers: int = 0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UserError(
                f"Config.profile: unknown profile {self.profile!r}; known: {', '.join(PROFILES)}"
            )
        object.__setattr__(self, "snr_db", augment.check_snr(self.snr_db))
        check_counts(self, ("seed", "workers"))

    def key(self) -> dict:
        """What decides the audio: the config minus ``workers``, plus generator versions."""
        return {
            "generator": GENERATOR_VERSION,
            "espeakng_loader": cache.package_version("espeakng-loader"),
            "soxr": cache.package_version("soxr"),
            "profile": self.profile,
            "grammar": PROFILES[self.profile].grammar,
            "grammar_sha256": grammar_of(self).digest(),
            "sizes": PROFILES[self.profile].sizes(),
            "seed": self.seed,
            "snr_db": list(self.snr_db),
            "max_seconds": MAX_SECONDS,
            "pad_seconds": list(PAD_SECONDS),
            "chunk": utterances.CHUNK,
        }


def grammar_of(config: Config) -> grammar.Grammar:
    """The grammar the sentences of ``config`` are drawn from."""
    return GRAMMARS[PROFILES[config.profile].grammar]


def cache_path(config: Config, cache_dir: Path | str) -> Path:
    """``<cache_dir>/synth-sentences/<hash of config.key()>.npz``."""
    return cache.keyed_path(cache_dir, NAME, config.key())


def sentences(config: Config) -> dict[str, list[str]]:
    """The transcripts of each split, in order: a pure function of profile and seed.

    Training covers the whole vocabulary; val and test avoid repeating training sentences.
    """
    sizes = PROFILES[config.profile].sizes()
    gram = grammar_of(config)

    def rng(split: str) -> np.random.Generator:
        stream = voices.SPLITS.index(split)
        return np.random.default_rng(np.random.SeedSequence([config.seed, _TEXT_STREAM, stream]))

    train = grammar.sample(gram, sizes["train"], rng("train"), cover=True)
    seen = frozenset(train)
    return {
        "train": train,
        "val": grammar.sample(gram, sizes["val"], rng("val"), avoid=seen),
        "test": grammar.sample(gram, sizes["test"], rng("test"), avoid=seen),
    }


def load(config: Config, data_dir: object, cache_dir: Path | str) -> AsrData:
    """The corpus of ``config``: read from the cache, or generated and cached first.

    Args:
        config: the corpus options.
        data_dir: ignored; the corpus is generated, not read.
        cache_dir: root of the dataset cache (``synth-sentences/`` is made inside).
    """
    del data_dir
    path = cache_path(config, cache_dir)
    t0 = time.perf_counter()
    arrays, meta, from_cache = cache.load_or_make(path, lambda: _generate(config))
    splits = {name: _split(arrays, name) for name in voices.SPLITS}
    info = {
        "profile": config.profile,
        "grammar": PROFILES[config.profile].grammar,
        "vocabulary": len(grammar_of(config).vocabulary()),
        "seed": config.seed,
        "snr_db": list(config.snr_db),
        "voices": {name: len(meta["identities"][name]) for name in voices.SPLITS},
        "mean_seconds": {
            name: round(float(np.mean(arrays[f"{name}_lengths"])) / SAMPLE_RATE, 3)
            for name in voices.SPLITS
        },
        "generation_seconds": meta["generation_seconds"],
        "from_cache": from_cache,
        "load_seconds": round(time.perf_counter() - t0, 3),
        "cache_file": str(path),
    }
    return AsrData(name=NAME, **splits, skipped=SkipLog(), info=info)


def _split(arrays: dict[str, np.ndarray], name: str) -> AsrSplit:
    """One split from the cached arrays: int16 samples end to end -> float32 clips (views)."""
    flat = arrays.pop(f"{name}_audio").astype(np.float32)
    flat *= np.float32(1.0 / 32768.0)
    lengths = arrays[f"{name}_lengths"]
    clips = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
    return AsrSplit(
        audio=tuple(clips),
        transcripts=tuple(arrays[f"{name}_transcripts"].tolist()),
        speakers=tuple(arrays[f"{name}_speakers"].tolist()),
        ids=tuple(f"{name}-{i:05d}" for i in range(len(lengths))),
    )


def _generate(config: Config) -> tuple[dict[str, np.ndarray], dict]:
    """Speak every sentence in worker processes and lay each split's clips end to end."""
    _, data_path = espeak.library_paths()
    identities = voices.split(voices.available(data_path), config.seed)
    texts = sentences(config)
    tasks = utterances.chunks(
        texts,
        identities,
        seed=config.seed,
        snr_db=config.snr_db,
        pad_seconds=PAD_SECONDS,
        max_samples=int(MAX_SECONDS * SAMPLE_RATE),
    )
    workers = config.workers or generate.default_workers()
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    with tqdm(
        total=sum(len(t) for t in texts.values()),
        desc=f"{NAME}: synthesizing",
        unit="utt",
        file=sys.stderr,
        disable=not generate.progress_enabled(),
    ) as bar:
        made = utterances.make_all(tasks, workers, on_done=lambda m: bar.update(len(m.lengths)))
    arrays: dict[str, np.ndarray] = {}
    for split in voices.SPLITS:
        arrays[f"{split}_audio"] = made[split].audio
        arrays[f"{split}_lengths"] = made[split].lengths
        arrays[f"{split}_transcripts"] = np.array(texts[split], dtype=str)
        arrays[f"{split}_speakers"] = np.array(made[split].voices, dtype=str)
    meta = {
        "key": config.key(),
        "identities": {name: list(ids) for name, ids in identities.items()},
        "generation_seconds": round(time.perf_counter() - t0, 3),
    }
    return arrays, meta
