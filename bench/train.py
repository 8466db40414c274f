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

from bench import gradflow, speed
from bench.config import TrainConfig
from datasets import pipeline


class Diverged(RuntimeError):
    """Training loss became NaN or infinite at ``step``.

    ``flow`` holds the gradient-flow table recorded before it (None without a recorder): what a
    depth study wants to see of a net that blew up.
    """

    def __init__(self, step: int, epoch: int) -> None:
        super().__init__(f"loss became non-finite at step {step} (epoch {epoch + 1})")
        self.step = step
        self.epoch = epoch
        self.flow = None


class _Watch(keras.callbacks.Callback):
    """Records epoch wall times and stops at the first non-finite batch loss."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_seconds: list[float] = []
        self.diverged: Diverged | None = None
        self._step = 0
        self._count = speed.StepCount()
        self._epoch = 0
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._t0)
        self._count.end_epoch()

    def on_train_batch_end(self, batch, logs=None):
        self._step = self._count.end_call(self, batch)  # steps, not compiled calls
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
    step_seconds: list[float]  # every step's wall time
    step_losses: list[float]  # every step's own loss in the first epoch (``StepTimer.losses``)


def compile_model(
    model: keras.Model,
    cfg: TrainConfig,
    steps_per_epoch: int,
    loss,
    metrics,
    jit_compile: bool | None = None,
    steps_per_execution: int = 1,
):
    """Compile with AdamW and a linear warm-up followed by cosine decay over the whole budget.

    ``jit_compile=None`` keeps Keras's default (``"auto"``: XLA where the backend supports it).
    ``steps_per_execution`` steps run per compiled call (fewer host round trips on a fast
    device); callbacks then see one batch per call. Under a ``mixed_float16`` dtype policy
    Keras's ``compile`` wraps the optimizer in a ``LossScaleOptimizer`` (dynamic loss scaling).
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
        steps_per_execution=steps_per_execution,
    )


def build_state(model: keras.Model, dataset) -> None:
    """Create the optimizer's and the metrics' variables eagerly, before ``fit`` traces its step.

    Keras creates them lazily inside the first traced step, and a ``tf.function`` whose first
    trace creates variables is traced a second time: building them here halves the trace time of
    the training step (-40% of the first epoch of a 16-block TC-ResNet; the trace takes minutes
    at 64-128 blocks). ``dataset`` gives one batch for the shapes: pass the validation set, not
    the training set, whose seeded shuffle would move on by one epoch and change the run. A
    timing cell has no validation set and records speed, not quality: it passes its training
    set (its timed steps then start at the next shuffled order, the same at every run).
    """
    model.optimizer.build(model.trainable_variables)
    (first,) = pipeline.take(dataset, 1)
    x, y = keras.tree.map_structure(lambda t: t[:2], first)
    model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    model.reset_metrics()


def fit(
    model,
    train_ds,
    val_ds,
    cfg: TrainConfig,
    *,
    verbose: int = 2,
    callbacks=(),
    steps: int | None = None,
) -> FitResult:
    """Fit with early stopping on validation loss and restore the best weights.

    Every step is timed (``speed.StepTimer``, first in the callback list), so the result carries
    the step-time percentiles and the median throughput after warm-up; then the share of step
    time spent waiting on data is measured on the training pipeline at that median step
    (``speed.pipeline_wait``), outside the training steps. ``steps`` set: train exactly that many
    steps in one epoch from a repeated ``train_ds``, without validation (a timing cell).

    Raises:
        Diverged: when the training loss becomes NaN or infinite.
    """
    timer = speed.StepTimer()
    watch = _Watch()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    t0 = time.perf_counter()
    if steps is None:
        build_state(model, val_ds)
        run = {"validation_data": val_ds, "epochs": cfg.epochs}
        extra = [stop]
    else:
        build_state(model, train_ds)
        train_ds = pipeline.repeated(train_ds)
        run = {"epochs": 1, "steps_per_epoch": steps}
        extra = []
    hist = model.fit(
        train_ds,
        callbacks=[timer, watch, *extra, *callbacks],
        shuffle=False,  # the pipeline shuffles, seeded per cell
        verbose=verbose,
        **run,
    )
    seconds = time.perf_counter() - t0
    if watch.diverged is not None:
        for recorder in callbacks:
            if isinstance(recorder, gradflow.Recorder):
                # The NaN step itself already moved the weights: keep what came before it.
                flow = recorder.table()
                watch.diverged.flow = flow[flow["step"] < watch.diverged.step]
        raise watch.diverged
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    # A timed "step" is one compiled call: steps_per_execution steps of the global batch.
    step_timing = timer.summary(cfg.batch_size * cfg.steps_per_execution)
    step_timing["data_wait_share"] = speed.pipeline_wait(
        train_ds, step_timing["step_seconds"]["p50"]
    )
    return FitResult(
        history=history,
        epoch_seconds=watch.epoch_seconds,
        train_seconds=seconds,
        best_epoch=int(stop.best_epoch) + 1 if steps is None else 1,
        steps=watch._step,
        step_timing=step_timing,
        step_seconds=timer.seconds.tolist(),
        step_losses=timer.losses.tolist(),
    )
