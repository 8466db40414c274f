"""Synthesize and augment every clip of a corpus, one word per task, in worker processes.

Reproducibility rests on three rules:

* Every random choice of a clip (voice, rate, pitch, augmentation, and the seed of eSpeak's own
  breath noise, which it would otherwise take from the clock) comes from a generator seeded by
  ``(seed, word, split, clip index)`` through ``np.random.SeedSequence``; the word enters by its
  text, not its position, so the same word gets the same clips in any vocabulary or order.
* libespeak-ng keeps hidden state between calls, so each word is spoken by a freshly loaded copy
  of the library (``Espeak`` unloads it when the word is done), its clips always in the same
  order. A word's clips therefore do not depend on which worker made them or what it made before.
* Results are gathered by word and stacked in vocabulary order, whatever order workers finish in.

The parent process never loads libespeak-ng: even with one worker the words are made in a
(spawned) child, so the output is the same for any worker count and a crash in the C library
cannot take the benchmark runner down with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from datasets.base import CLIP_SAMPLES, SAMPLE_RATE
from datasets.synth import augment, espeak, voices

# Prosody drawn per clip: speaking rate (words per minute), base pitch and pitch range (eSpeak's
# 0-100 scales, 50 = the voice's own).
RATE_WPM = (130, 230)
PITCH = (25, 75)
PITCH_RANGE = (20, 80)
# The clip's place in the seed, after (seed, word): one stream per split.
_SPLIT_IDS = {name: i for i, name in enumerate(voices.SPLITS)}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything that decides a word's clips, shared by all words of a corpus (picklable).

    Attributes:
        sizes: clips per word in each split, e.g. ``{"train": 200, "val": 40, "test": 60}``.
        identities: voice identities of each split (disjoint).
        seed: the corpus seed.
        snr_db: range of signal-to-noise ratios in dB.
    """

    sizes: dict[str, int]
    identities: dict[str, tuple[str, ...]]
    seed: int
    snr_db: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class WordClips:
    """One word's clips: per split, int16 audio ``[n, CLIP_SAMPLES]`` and the voice of each."""

    word: str
    audio: dict[str, np.ndarray]
    voices: dict[str, tuple[str, ...]]


def word_key(word: str) -> int:
    """A stable 64-bit number for ``word`` (Python's ``hash`` of a str changes every run)."""
    return int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")


def clip_rng(seed: int, word: str, split: str, index: int) -> np.random.Generator:
    """The generator of one clip: a pure function of (seed, word, split, index)."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, word_key(word), _SPLIT_IDS[split], index])
    )


def to_int16(clip: np.ndarray) -> np.ndarray:
    """Quantize a float clip in [-1, 1] to int16 (the cached form; half the bytes of float32)."""
    return np.clip(np.round(clip * 32768.0), -32768, 32767).astype(np.int16)


def make_word(word: str, plan: Plan) -> WordClips:
    """Synthesize and augment all clips of ``word`` with a freshly loaded libespeak-ng."""
    import soxr  # imported here: only the worker processes need it

    audio: dict[str, np.ndarray] = {}
    spoken_by: dict[str, tuple[str, ...]] = {}
    with espeak.Espeak() as tts:
        for split in voices.SPLITS:
            n = plan.sizes[split]
            ids = plan.identities[split]
            out = np.zeros((n, CLIP_SAMPLES), dtype=np.int16)
            names = []
            for i in range(n):
                rng = clip_rng(plan.seed, word, split, i)
                voice = ids[int(rng.integers(len(ids)))]
                raw = tts.speak(
                    word,
                    voice,
                    rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
                    pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                    pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                    seed=int(rng.integers(1, 2**31)),
                )
                speech = augment.trim_silence(raw.astype(np.float32) / 32768.0, tts.sample_rate)
                if len(speech) == 0:
                    raise espeak.EspeakError(f"eSpeak NG said nothing for {word!r} ({voice})")
                speech = soxr.resample(speech, tts.sample_rate, SAMPLE_RATE)
                out[i] = to_int16(augment.augment(speech, rng, plan.snr_db))
                names.append(voice)
            audio[split] = out
            spoken_by[split] = tuple(names)
    return WordClips(word=word, audio=audio, voices=spoken_by)


def make_words(
    words: tuple[str, ...],
    plan: Plan,
    workers: int,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, WordClips]:
    """Make every word in ``workers`` spawned processes; returns ``{word: WordClips}``.

    ``on_done(word)`` is called in the parent as each word finishes (for a progress bar).
    """
    workers = max(1, min(workers, len(words)))
    results: dict[str, WordClips] = {}
    # spawn, not fork: the parent may hold TensorFlow's threads, which fork does not copy safely.
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(make_word, word, plan) for word in words]
            for future in as_completed(futures):
                clips = future.result()
                results[clips.word] = clips
                if on_done is not None:
                    on_done(clips.word)
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a synth-words worker process died. If you load the corpus from a script, put the "
            "call under `if __name__ == '__main__':` (workers are spawned and import the script)."
        ) from err
    return results


def default_workers() -> int:
    """All CPUs this process may use (``os.cpu_count()`` where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def progress_enabled() -> bool:
    """Show a progress bar only to a person at a terminal, not in logs or tests."""
    return sys.stderr.isatty()
