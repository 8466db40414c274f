"""The task interface: what a task supplies to the one training loop (``bench.loop``).

A task is a module (``bench/tasks/<name>.py`` or a folder) that satisfies ``Task``; the registry
in ``bench/tasks/__init__.py`` maps its name to the module. The loop does everything else: build,
compile, gradient probe, fit, timed evaluation, speed, TensorBoard, and the result record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import keras
import numpy as np

from results.metrics import Metric


@dataclasses.dataclass
class Setup:
    """What a task hands the loop for one cell.

    Attributes:
        model: what ``fit`` trains (may wrap ``served``, e.g. with the CTC loss).
        served: what is evaluated and saved: raw 16 kHz audio in, logits out.
        train: training batches, shuffled with the cell's seed.
        val: validation batches for early stopping (None: no validation, e.g. timing cells).
        steps_per_epoch: training steps per epoch.
        loss: the Keras loss of ``model`` (None: the model adds its own).
        metrics: Keras metrics compiled into ``model``.
        probe_loss: ``(x, y, logits) -> loss`` for the gradient-flow probe (None: no probe).
        probe_batches: fixed training batches the probe averages over.
        example: one input (no batch axis) for the latency measurement.
        samples: input samples per training example, for the FLOP count (None: the example's).
        timed_steps: train exactly this many steps (one epoch, no validation) and skip
            evaluation: a timing cell. None: train the cell's budget with early stopping.
        front_end: the part of ``served`` whose outputs ``model`` trains on, computed once
            before training (precomputed features), or None: its FLOPs are not counted in the
            training utilization.
    """

    model: keras.Model
    served: keras.Model
    train: Any
    val: Any
    steps_per_epoch: int
    loss: Any
    metrics: list | None
    probe_loss: Callable | None
    probe_batches: list
    example: np.ndarray
    samples: int | None = None
    timed_steps: int | None = None
    front_end: keras.Model | None = None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A task's scores on one split: metrics and the task-specific details of the record."""

    metrics: Mapping[str, Metric]
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """What a task module provides.

    Attributes:
        DATA_KIND: the dataset kind it trains on (``"kws"``: fixed-length labelled clips;
            ``"asr"``: utterances with transcripts).
        HEADLINE: the metrics the runner prints after each cell, most important first.
        AUGMENTS: the parts of ``train.augment`` it applies: ``"waveform"`` (time shift, noise,
            speed, in the input pipeline) and ``"spec"`` (SpecAugment, in the model); a suite
            asking for another part is refused before any training.
        PRECOMPUTES: whether it honours ``train.precompute_features`` (trains on log-mel
            features computed once); a suite asking a task that does not is refused.
    """

    DATA_KIND: str
    HEADLINE: tuple[str, ...]
    AUGMENTS: frozenset[str]
    PRECOMPUTES: bool

    def check_model(self, preset: str) -> None:
        """Refuse, with a ValueError, a preset this task cannot train (before any training)."""

    def setup(self, cell, data) -> Setup:
        """The cell's models, batches, loss and probe."""

    def evaluate(self, setup: Setup, data, split: str) -> Evaluation:
        """Scores of the trained ``setup.served`` on ``split``."""

    def validation_metrics(self, setup: Setup, data, history: Mapping) -> dict[str, Metric]:
        """Metrics of the best weights on validation (``history``: Keras's per-epoch logs)."""

    def evaluate_saved(self, model: keras.Model, data, meta: Mapping, split: str) -> Evaluation:
        """Scores of a saved model; ``meta`` is its sidecar (cell, labels and ``sidecar``'s)."""

    def sidecar(self, data) -> dict[str, Any]:
        """What ``evaluate_saved`` needs of the training data besides the model, JSON-ready:
        kept in the model's sidecar, so scoring a model reads only the split it scores."""

    def eval_splits(self, meta: Mapping, split: str) -> tuple[str, ...]:
        """The splits ``evaluate_saved`` reads to score ``split`` with sidecar ``meta``."""


def members() -> tuple[str, ...]:
    """The names a task module must define: ``Task``'s attributes and methods."""
    methods = (n for n, v in vars(Task).items() if callable(v) and not n.startswith("_"))
    return (*Task.__annotations__, *methods)


def spec_augment_options(cell) -> dict[str, Any]:
    """``models.build``'s SpecAugment arguments for ``cell`` (its masks, seeded by the cell's and
    the recipe's seeds), or none when its ``train.augment`` has no masks."""
    augment = cell.train.augment
    if augment is None or not augment.spec_augment:
        return {}
    return {"spec_augment": augment.spec_augment, "seed": cell.seed + augment.seed}


def count_params(model: keras.Model) -> int:
    """Trainable parameters of ``model``."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
