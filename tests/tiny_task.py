"""A task written only for ``tests/test_tasks.py``: the whole interface a new task must supply.

"loudness": classify a keyword clip by its word, with a model of one dense layer over 10-ms
frames, averaged over time. It proves that a new task is one module plus one registry line: the
one training loop (``bench.loop``) trains, probes, times, evaluates, records and saves it
unchanged.
"""

from __future__ import annotations

import keras
import numpy as np

from bench.tasks.base import Evaluation, Setup
from datasets.pipeline import batches
from results.metrics import Metric

DATA_KIND = "kws"
HEADLINE = ("accuracy",)
AUGMENTS: frozenset[str] = frozenset()
PRECOMPUTES = False
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def check_model(preset: str) -> None:
    """Any preset: this task builds its own model and ignores the preset's layers."""


def _model(classes: int) -> keras.Model:
    audio = keras.Input((16_000,), name="audio")
    frames = keras.layers.Reshape((100, 160))(audio)
    hidden = keras.layers.Dense(16, activation="relu", name="block1_dense")(frames)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    return keras.Model(audio, keras.layers.Dense(classes, name="classifier")(pooled))


def setup(cell, data) -> Setup:
    model = _model(len(data.labels))
    x, y = data.train.audio[:16], data.train.labels[:16]
    return Setup(
        model=model,
        served=model,
        train=batches(data.train, cell.train.batch_size, shuffle_seed=cell.seed),
        val=batches(data.val, 64),
        steps_per_epoch=int(np.ceil(len(data.train) / cell.train.batch_size)),
        loss=LOSS,
        metrics=["accuracy"],
        probe_loss=lambda x, y, p: LOSS(y, p),
        probe_batches=[(x, y)],
        example=data.test.audio[0],
    )


def evaluate(setup: Setup, data, split: str) -> Evaluation:
    return evaluate_saved(setup.served, data, {}, split)


def validation_metrics(setup: Setup, data, history) -> dict[str, Metric]:
    return {"val_accuracy": Metric.of("val_accuracy", max(history["val_accuracy"]))}


def evaluate_saved(model, data, meta, split: str) -> Evaluation:
    part = getattr(data, split)
    pred = np.argmax(model.predict(part.audio, verbose=0), axis=-1)
    accuracy = float(np.mean(pred == part.labels))
    return Evaluation({"accuracy": Metric.of("accuracy", accuracy)}, {"n_examples": len(part)})


def sidecar(data) -> dict:
    return {}


def eval_splits(meta, split: str) -> tuple[str, ...]:
    return (split,)
