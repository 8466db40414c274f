"""Speak and augment the sentences of the spoken-sentence corpus, a fixed chunk per task.

The rules of ``datasets.synth.generate`` carry over from words to sentences:

* Every random choice of an utterance comes from ``generate.clip_rng(seed, text, split, index)``.
* The sentences of a split are cut into chunks of ``CHUNK`` in a fixed way (never by worker
  count), and each chunk is spoken by a freshly loaded libespeak-ng in order, so an utterance
  does not depend on which worker made it or what that worker made before.
* Chunks are gathered back in split order, whatever order workers finish in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from datasets.base import SAMPLE_RATE
from datasets.synth import augment, espeak, generate

# Sentences per task: enough to amortize loading the library, small enough to balance workers.
# Part of the corpus identity (a chunk shares one library instance), so in the cache key.
CHUNK = 100


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Consecutive sentences of one split and everything that decides their audio (picklable).

    Attributes:
        split: ``"train"``, ``"val"`` or ``"test"``.
        start: index of the first sentence within its split.
        texts: the sentences, spoken as written (they are the transcripts).
        identities: the split's voice identities.
        seed: the corpus seed.
        snr_db: range of signal-to-noise ratios in dB.
        pad_seconds: range of the silence before and after the speech.
        max_samples: the longest clip; longer speech is spoken faster to fit (``generate.say``).
    """

    split: str
    start: int
    texts: tuple[str, ...]
    identities: tuple[str, ...]
    seed: int
    snr_db: tuple[float, float]
    pad_seconds: tuple[float, float]
    max_samples: int

    @property
    def max_speech_samples(self) -> int:
        """Longest speech that still leaves room for the largest padding on both sides."""
        return self.max_samples - 2 * int(self.pad_seconds[1] * SAMPLE_RATE)


@dataclasses.dataclass(frozen=True)
class ChunkAudio:
    """A chunk's clips: int16 samples end to end, each clip's length, and its voice."""

    split: str
    start: int
    audio: np.ndarray
    lengths: np.ndarray
    voices: tuple[str, ...]


def chunks(
    texts: dict[str, list[str]], identities: dict[str, tuple[str, ...]], **settings
) -> list[Chunk]:
    """Cut each split's sentences into ``CHUNK``-sized ``Chunk``s, in split order.

    ``identities`` gives each split its voices; ``settings`` (seed, snr_db, pad_seconds,
    max_samples) are the same for every chunk.
    """
    return [
        Chunk(
            split=split,
            start=start,
            texts=tuple(lines[start : start + CHUNK]),
            identities=identities[split],
            **settings,
        )
        for split, lines in texts.items()
        for start in range(0, len(lines), CHUNK)
    ]


def make_chunk(chunk: Chunk) -> ChunkAudio:
    """Speak and augment every sentence of ``chunk`` with a freshly loaded libespeak-ng."""
    clips: list[np.ndarray] = []
    names: list[str] = []
    with espeak.Espeak() as tts:
        for offset, text in enumerate(chunk.texts):
            rng = generate.clip_rng(chunk.seed, text, chunk.split, chunk.start + offset)
            voice, speech = generate.say(
                tts, text, rng, chunk.identities, max_samples=chunk.max_speech_samples
            )
            clip = augment.augment_utterance(
                speech, rng, chunk.snr_db, chunk.pad_seconds, chunk.max_samples
            )
            clips.append(generate.to_int16(clip))
            names.append(voice)
    return ChunkAudio(
        split=chunk.split,
        start=chunk.start,
        audio=np.concatenate(clips),
        lengths=np.array([len(c) for c in clips], dtype=np.int32),
        voices=tuple(names),
    )


def make_all(
    tasks: list[Chunk], workers: int, on_done: Callable[[ChunkAudio], None] | None = None
) -> dict[str, ChunkAudio]:
    """Make every chunk in ``workers`` processes; one ``ChunkAudio`` per split, in order."""
    made = generate.run_tasks(make_chunk, tasks, workers, on_done=on_done)
    out: dict[str, ChunkAudio] = {}
    for split in dict.fromkeys(t.split for t in tasks):
        parts = [m for m in made if m.split == split]  # run_tasks keeps task order
        out[split] = ChunkAudio(
            split=split,
            start=0,
            audio=np.concatenate([p.audio for p in parts]),
            lengths=np.concatenate([p.lengths for p in parts]),
            voices=tuple(v for p in parts for v in p.voices),
        )
    return out
