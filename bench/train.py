"""Training loop shared by the tasks: AdamW, warm-up + cosine decay, early stopping, NaN guard.

The best weights by validation loss are restored at the end, so every task evaluates the best
epoch on its test split. A loss that becomes NaN stops training and is reported with its step,
so the runner can record the cell as ``diverged`` instead of crashing the sweep.
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras

from bench import gradflow, metrics, speed
from bench.config import TrainConfig


class Diverged(RuntimeError):
    """Training loss became NaN or infinite at ``step``.

    ``partial`` holds what was recorded before it, JSON-ready but for ``tables``: the gradient
    flow up to the divergence, which is what a depth study wants to see of a net that blew up.
    """

    def __init__(self, step: int, epoch: int) -> None:
        super().__init__(f"loss became non-finite at step {step} (epoch {epoch + 1})")
        self.step = step
        self.epoch = epoch
        self.partial: dict = {}


class _Watch(keras.callbacks.Callback):
    """Records epoch wall times and stops at the first non-finite batch loss."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_seconds: list[float] = []
        self.diverged: Diverged | None = None
        self._step = 0
        self._epoch = 0
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._t0)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = Diverged(self._step, self._epoch)
            self.model.stop_training = True


@dataclasses.dataclass
class FitResult:
    """What training produced besides the weights: history, timing, best epoch."""

    history: dict[str, list[float]]
    epoch_seconds: list[float]
    train_seconds: float
    best_epoch: int
    steps: int
    step_timing: dict  # ``speed.StepTimer.summary`` and the data-wait share


def compile_model(
    model: keras.Model,
    cfg: TrainConfig,
    steps_per_epoch: int,
    loss,
    metrics,
    jit_compile: bool | None = None,
):
    """Compile with AdamW and a linear warm-up followed by cosine decay over the whole budget.

    ``jit_compile=None`` keeps Keras's default (``"auto"``: XLA where the backend supports it).
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate * (0.1 if warmup else 1.0),
        decay_steps=max(1, total - warmup),
        warmup_target=cfg.learning_rate if warmup else None,
        warmup_steps=warmup,
        alpha=0.01,
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        jit_compile="auto" if jit_compile is None else jit_compile,
    )


def build_state(model: keras.Model, dataset) -> None:
    """Create the optimizer's and the metrics' variables eagerly, before ``fit`` traces its step.

    Keras creates them lazily inside the first traced step, and a ``tf.function`` whose first
    trace creates variables is traced a second time: building them here halves the trace time of
    the training step (-40% of the first epoch of a 16-block TC-ResNet; the trace takes minutes
    at 64-128 blocks). ``dataset`` gives one batch for the shapes: pass the validation set, not
    the training set, whose seeded shuffle would move on by one epoch and change the run.
    """
    model.optimizer.build(model.trainable_variables)
    x, y = keras.tree.map_structure(lambda t: t[:2], next(iter(dataset.take(1))))
    model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    model.reset_metrics()


def fit(model, train_ds, val_ds, cfg: TrainConfig, *, verbose: int = 2, callbacks=()) -> FitResult:
    """Fit with early stopping on validation loss and restore the best weights.

    Every step is timed (``speed.StepTimer``, first in the callback list), so the result carries
    the step-time percentiles and the median throughput after warm-up; then the share of step
    time spent waiting on data is measured on the training pipeline at that median step
    (``speed.pipeline_wait``), outside the training steps.

    Raises:
        Diverged: when the training loss becomes NaN or infinite.
    """
    timer = speed.StepTimer()
    watch = _Watch()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    t0 = time.perf_counter()
    build_state(model, val_ds)
    hist = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.epochs,
        callbacks=[timer, watch, stop, *callbacks],
        shuffle=False,  # the tf.data pipeline shuffles, seeded per cell
        verbose=verbose,
    )
    seconds = time.perf_counter() - t0
    if watch.diverged is not None:
        for recorder in callbacks:
            if isinstance(recorder, gradflow.Recorder):
                # The NaN step itself already moved the weights: keep what came before it.
                flow = recorder.table()
                flow = flow[flow["step"] < watch.diverged.step]
                watch.diverged.partial = {
                    "gradient_flow": gradflow.summarize(flow),
                    "tables": {"gradflow": flow},
                }
        raise watch.diverged
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    step_timing = timer.summary(cfg.batch_size)
    step_timing["data_wait_share"] = speed.pipeline_wait(
        train_ds, step_timing["step_seconds"]["p50"]
    )
    return FitResult(
        history=history,
        epoch_seconds=watch.epoch_seconds,
        train_seconds=seconds,
        best_epoch=int(stop.best_epoch) + 1,
        steps=watch._step,
        step_timing=step_timing,
    )


def record(
    fitted: FitResult, recorder: gradflow.Recorder, *, examples: int, params: int, eval_seconds
) -> dict:
    """What every trained cell reports about its training, JSON-ready (``tables`` aside).

    Args:
        fitted: what ``fit`` returned.
        recorder: the gradient-flow recorder that ran during ``fit``.
        examples: training examples per epoch.
        params: trainable parameters of the saved model.
        eval_seconds: wall time of the test evaluation.
    """
    flow = recorder.table()
    seconds = max(fitted.train_seconds, 1e-9)
    return {
        "metrics": {
            "train_loss": metrics.record("train_loss", fitted.history["loss"][-1]),
            "train_seconds": metrics.record("train_seconds", fitted.train_seconds),
            "train_samples_per_s": metrics.record(
                "train_samples_per_s", fitted.step_timing["train_samples_per_s"]
            ),
            "params": metrics.record("params", params),
        },
        "gradient_flow": {
            **gradflow.summarize(flow),
            "interval": recorder.interval,
            "seconds": recorder.seconds,
            "overhead": recorder.seconds / seconds,
        },
        "tables": {"gradflow": flow},
        "history": fitted.history,
        "best_epoch": fitted.best_epoch,
        "timing": {
            "train_seconds": fitted.train_seconds,
            "epoch_seconds": fitted.epoch_seconds,
            "eval_seconds": eval_seconds,
            "steps": fitted.steps,
            "fit_samples_per_s": examples * len(fitted.epoch_seconds) / seconds,
        },
    }
