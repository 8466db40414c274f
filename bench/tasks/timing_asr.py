"""Speech-recognition timing: the speed of a CTC model on variable-length utterances.

The CTC counterpart of ``timing``: the cell's frame model in its CTC wrapper, compiled as the
``asr`` task compiles it, trained ``WARMUP + TIMED_STEPS`` steps on the length-bucketed padded
batches the ``asr`` task trains on, then the latency of one median-length test utterance and
the model's FLOPs and utilization (``bench.speed``). Its steps' cost follows the corpus's
utterance lengths, so ``gpu-check`` times it on ``synth-lengths`` (LibriSpeech's lengths, no
speech). Nothing is evaluated: the record says how fast, and its per-step losses whether the
loss fell.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from bench import speed
from bench.config import Cell
from bench.tasks import asr, timing
from bench.tasks.base import Evaluation, Setup
from datasets.base import AsrData, AsrSplit
from datasets.batching import AsrLayout

DATA_KIND = "asr"
HEADLINE = ("train_samples_per_s", "latency_p50_ms")
AUGMENTS: frozenset[str] = frozenset()  # timed steps are of the plain model
PRECOMPUTES = False


def check_model(preset: str) -> None:
    """Refuse a preset that cannot be a CTC encoder, as the ``asr`` task does."""
    asr.check_model(preset)


# Twice the keyword cells' timed steps: JAX compiles once per batch shape, one per length
# bucket (6), and the median of 20 steps stays a steady step's with the 4 or so first steps of
# a bucket among them; TensorFlow and PyTorch take every length with one program.
TIMED_STEPS = 2 * timing.TIMED_STEPS


def setup(cell: Cell, data: AsrData) -> Setup:
    """The ``asr`` task's setup without validation or gradient probe, for timed steps only.

    Training keeps whole batches only (``whole_batches``): every timed step is of the batch
    size, and the shapes to compile are one per bucket, not two.
    """
    data = dataclasses.replace(data, train=whole_batches(data.train, cell.train.batch_size))
    return dataclasses.replace(
        asr.setup(cell, data),
        val=None,
        probe_loss=None,
        probe_batches=[],
        timed_steps=speed.WARMUP_STEPS + TIMED_STEPS,
    )


def whole_batches(split: AsrSplit, batch_size: int, buckets: int = 6) -> AsrSplit:
    """An evenly spaced subsample of ``split`` by length (the distribution kept) whose length
    buckets (``AsrLayout``'s quantiles) hold whole batches: ``buckets * batch_size * m``
    utterances. Unchanged when the split holds fewer than one batch per bucket."""
    per_round = buckets * batch_size
    n = len(split) // per_round * per_round
    if n == 0:
        return split
    order = np.argsort(AsrLayout.of(split, batch_size).lengths, kind="stable")
    keep = np.sort(order[np.linspace(0, len(split) - 1, n).round().astype(int)]).tolist()
    audio = split.audio
    clips = audio.take(keep) if hasattr(audio, "take") else tuple(audio[i] for i in keep)
    return AsrSplit(
        audio=clips,
        transcripts=tuple(split.transcripts[i] for i in keep),
        speakers=tuple(split.speakers[i] for i in keep),
        ids=tuple(split.ids[i] for i in keep),
    )


def evaluate(setup: Setup, data: AsrData, split: str = "test") -> Evaluation:
    """A timing cell is not evaluated (the loop skips it); scored as a recognizer if asked."""
    return asr.evaluate(setup, data, split)


def validation_metrics(setup: Setup, data: AsrData, history) -> dict:
    return {}


def evaluate_saved(model: keras.Model, data: AsrData, meta, split: str = "test") -> Evaluation:
    """A timed model is barely trained; it is scored like any CTC model."""
    return asr.evaluate_saved(model, data, meta, split)


def sidecar(data: AsrData) -> dict:
    return asr.sidecar(data)


def eval_splits(meta, split: str) -> tuple[str, ...]:
    return asr.eval_splits(meta, split)
