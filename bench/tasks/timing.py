"""Timing: the speed of a model on the suite's keyword clips, without training it to convergence.

Builds the cell's classifier, compiles it as the training tasks do (AdamW, the cell's
``jit_compile``), and times ``WARMUP + TIMED_STEPS`` training steps at the cell's batch size on the
shuffled training clips; then the batch-1 latency and batch-256 throughput of the model, its
FLOPs per example and its utilization of the calibration peak (``bench.speed``). No gradient
probe and nothing TensorFlow-specific runs in the model's path, so the same cell runs on every
Keras backend: the ``perf`` suite sweeps ``backends`` and ``jit_compile`` over this task.
"""

from __future__ import annotations

import keras
import numpy as np

from bench import metrics, speed, train
from bench.config import Cell
from bench.tasks import kws
from datasets.base import KwsData
from datasets.pipeline import batches

DATA_KIND = "kws"
BACKEND_NEUTRAL = True  # the suite may sweep this task over Keras backends
TIMED_STEPS = 10  # steady-state steps timed after the warm-up (median of 10 within 1-9% of 20's)


def run(cell: Cell, data: KwsData, *, verbose: int = 2) -> tuple[dict, keras.Model]:
    """Time training steps and inference of the cell's model; returns its speed metrics."""
    with speed.xla_allowed(cell.jit_compile) as deterministic:
        result, model = _timed(cell, data, verbose)
    result["deterministic"] = deterministic
    return result, model


def _timed(cell: Cell, data: KwsData, verbose: int) -> tuple[dict, keras.Model]:
    """``run``'s measurements, inside the XLA scope."""
    cfg = cell.train
    model = kws.build(cell, data)
    steps = speed.WARMUP_STEPS + TIMED_STEPS
    train.compile_model(
        model, cfg, steps, loss=kws.LOSS, metrics=["accuracy"], jit_compile=cell.jit_compile
    )
    timer = speed.StepTimer()
    train_ds = batches(data.train, cfg.batch_size, shuffle_seed=cell.seed).repeat()
    hist = model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[timer],
        shuffle=False,  # the tf.data pipeline shuffles, seeded per cell
        verbose=verbose,
    )
    loss = float(hist.history["loss"][-1])
    if not np.isfinite(loss):
        raise train.Diverged(len(timer.seconds), 0)
    step_timing = timer.summary(cfg.batch_size)
    step_timing["data_wait_share"] = speed.pipeline_wait(
        train_ds, step_timing["step_seconds"]["p50"]
    )
    result = {
        "metrics": {
            "train_samples_per_s": metrics.record(
                "train_samples_per_s", step_timing["train_samples_per_s"]
            ),
            "params": metrics.record("params", kws.count_params(model)),
        },
        "timing": {"steps": step_timing["steps"], "step_seconds": timer.seconds.tolist()},
    }
    speed.attach(result, model, step_timing, data.test.audio[0])
    return result, model


def evaluate_saved(model: keras.Model, data: KwsData, meta: dict, split: str = "test") -> dict:
    """A timed model is barely trained; it is scored like any keyword classifier."""
    return kws.evaluate_saved(model, data, meta, split)
