"""Synthesize and augment every clip of a corpus, one word per task, in worker processes.

``say`` (voice and prosody drawn from a seeded generator, then eSpeak, trim and resample) and
``run_tasks`` (a spawned process pool that returns results in task order) are shared with the
spoken-sentence corpus (``datasets.synth.utterances``), which follows the same rules per chunk of
sentences instead of per word.

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
import functools
import hashlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import numpy as np

from datasets.base import CLIP_SAMPLES, SAMPLE_RATE
from datasets.synth import augment, espeak, voices

# Prosody drawn per clip: speaking rate (words per minute), base pitch and pitch range (eSpeak's
# 0-100 scales, 50 = the voice's own).
RATE_WPM = (130, 230)
PITCH = (25, 75)
PITCH_RANGE = (20, 80)
# eSpeak's fastest speaking rate; `say` never speeds a long utterance up beyond it.
MAX_RATE_WPM = 450
# The clip's place in the seed, after (seed, word): one stream per split.
_SPLIT_IDS = {name: i for i, name in enumerate(voices.SPLITS)}

T = TypeVar("T")
R = TypeVar("R")


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


def say(
    tts: espeak.Espeak,
    text: str,
    rng: np.random.Generator,
    identities: tuple[str, ...],
    max_samples: int | None = None,
) -> tuple[str, np.ndarray]:
    """Speak ``text`` in a voice and prosody drawn from ``rng``; trimmed float32 at 16 kHz.

    Draws, in this order, the voice (one of ``identities``), rate, pitch, pitch range and the seed
    of eSpeak's breath noise; so a clip is a pure function of ``rng``'s seed.

    Args:
        max_samples: when the trimmed speech is longer, it is spoken again, faster (a rate scaled
            by the excess, up to eSpeak's 450 wpm), so a long sentence by a slow voice still fits
            its clip. No draw is spent on this, so it changes nothing for shorter speech.

    Returns:
        ``(voice identity, speech)``.

    Raises:
        espeak.EspeakError: eSpeak said nothing (only silence) for ``text``.
    """
    import soxr  # imported here: only the worker processes need it

    voice = identities[int(rng.integers(len(identities)))]
    rate = int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1))
    pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
    pitch_range = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
    seed = int(rng.integers(1, 2**31))
    while True:
        raw = tts.speak(text, voice, rate=rate, pitch=pitch, pitch_range=pitch_range, seed=seed)
        speech = augment.trim_silence(raw.astype(np.float32) / 32768.0, tts.sample_rate)
        if len(speech) == 0:
            raise espeak.EspeakError(f"eSpeak NG said nothing for {text!r} ({voice})")
        speech = soxr.resample(speech, tts.sample_rate, SAMPLE_RATE)
        if max_samples is None or len(speech) <= max_samples or rate >= MAX_RATE_WPM:
            return voice, speech
        rate = min(MAX_RATE_WPM, int(np.ceil(rate * len(speech) / max_samples * 1.05)))


def make_word(word: str, plan: Plan) -> WordClips:
    """Synthesize and augment all clips of ``word`` with a freshly loaded libespeak-ng."""
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
                voice, speech = say(tts, word, rng, ids)
                out[i] = to_int16(augment.augment(speech, rng, plan.snr_db))
                names.append(voice)
            audio[split] = out
            spoken_by[split] = tuple(names)
    return WordClips(word=word, audio=audio, voices=spoken_by)


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    workers: int,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """``[fn(task) for task in tasks]`` computed in ``workers`` spawned processes, in task order.

    ``fn`` must be a module-level function and tasks and results picklable. ``on_done(result)`` is
    called in the parent as each task finishes (for a progress bar), in completion order.
    """
    workers = max(1, min(workers, len(tasks)))
    results: list = [None] * len(tasks)
    # spawn, not fork: the parent may hold TensorFlow's threads, which fork does not copy safely.
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_done is not None:
                    on_done(result)
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a speech synthesis worker process died. If you load a synthetic corpus from a "
            "script, put the call under `if __name__ == '__main__':` (workers are spawned and "
            "import the script)."
        ) from err
    return results


def make_words(
    words: tuple[str, ...],
    plan: Plan,
    workers: int,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, WordClips]:
    """Make every word in ``workers`` spawned processes; returns ``{word: WordClips}``.

    ``on_done(word)`` is called in the parent as each word finishes (for a progress bar).
    """
    made = run_tasks(
        functools.partial(make_word, plan=plan),
        list(words),
        workers,
        on_done=None if on_done is None else (lambda clips: on_done(clips.word)),
    )
    return {clips.word: clips for clips in made}


def default_workers() -> int:
    """All CPUs this process may use (``os.cpu_count()`` where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def progress_enabled() -> bool:
    """Show a progress bar only to a person at a terminal, not in logs or tests."""
    return sys.stderr.isatty()
