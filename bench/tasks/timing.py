"""Timing: the speed of a model on the suite's keyword clips, without training it to convergence.

The loop builds the cell's classifier, compiles it as the training tasks do (AdamW, the cell's
``jit_compile``), and times ``WARMUP + TIMED_STEPS`` training steps at the cell's batch size on the
shuffled training clips; then the batch-1 latency and batch-256 throughput of the model, its
FLOPs per example and its utilization of the calibration peak (``bench.speed``). No gradient
probe and nothing TensorFlow-specific runs in the model's path, so the same cell runs on every
Keras backend: the ``perf`` suite sweeps ``backends`` and ``jit_compile`` over this task.
"""

from __future__ import annotations

import dataclasses

import keras

from bench import speed
from bench.config import Cell
from bench.tasks import kws
from bench.tasks.base import Evaluation, Setup
from datasets.base import KwsData

DATA_KIND = "kws"
HEADLINE = ("train_samples_per_s", "latency_p50_ms")
AUGMENTS: frozenset[str] = frozenset()  # timed steps are of the plain model on raw audio
PRECOMPUTES = False
TIMED_STEPS = 10  # steady-state steps timed after the warm-up (median of 10 within 1-9% of 20's)


def check_model(preset: str) -> None:
    """Every preset has a classifier head: nothing to refuse."""


def setup(cell: Cell, data: KwsData) -> Setup:
    """The keyword classifier's setup, without validation or probe, for timed steps only.

    Timed steps are of the whole model on raw audio (``precompute_features`` off): the speed
    of the model as served, comparable across backends, and no corpus-wide feature pass for a
    few steps.
    """
    on_audio = dataclasses.replace(cell.train, precompute_features=False)
    return dataclasses.replace(
        kws.setup(dataclasses.replace(cell, train=on_audio), data),
        val=None,
        probe_loss=None,
        probe_batches=[],
        timed_steps=speed.WARMUP_STEPS + TIMED_STEPS,
    )


def evaluate(setup: Setup, data: KwsData, split: str = "test") -> Evaluation:
    """A timing cell is not evaluated (the loop skips it); scored like a classifier if asked."""
    return kws.evaluate(setup, data, split)


def validation_metrics(setup: Setup, data: KwsData, history) -> dict:
    return {}


def evaluate_saved(model: keras.Model, data: KwsData, meta, split: str = "test") -> Evaluation:
    """A timed model is barely trained; it is scored like any keyword classifier."""
    return kws.evaluate_saved(model, data, meta, split)


def sidecar(data: KwsData) -> dict:
    return kws.sidecar(data)


def eval_splits(meta, split: str) -> tuple[str, ...]:
    return kws.eval_splits(meta, split)
