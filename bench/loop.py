"""The one training loop: runs any task's cell from build to the parts of its result record.

A task (``bench.tasks.base.Task``) supplies what differs — models, batches, loss, probe, and
evaluation; this module does the rest, the same for every task: compile (AdamW, warm-up + cosine
decay), the gradient-flow probe (``bench.gradflow``, logged to TensorBoard as it records), fit
(early stopping, best weights restored, NaN guard), the timed test evaluation, validation
metrics, the speed record (``bench.speed``), and the training metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from bench import devices, gradflow, speed, tensorboard, train, transfer
from bench.config import Cell
from bench.tasks.base import Setup, Task, count_params
from results.metrics import Metric
from results.record import GradientFlow, Speed, Timing


@dataclasses.dataclass
class Outcome:
    """What the loop produced for one cell; the runner adds identity and status."""

    model: keras.Model  # the served model (raw audio in), to save
    metrics: dict[str, Metric]
    evaluation: Mapping[str, Any]
    history: dict[str, list[float]]
    best_epoch: int
    timing: Timing
    speed: Speed
    gradient_flow: GradientFlow | None
    tables: dict[str, pd.DataFrame]
    deterministic: bool


def run(
    task: Task,
    cell: Cell,
    data,
    *,
    log_dir: Path | None = None,
    verbose: int = 2,
    init_from: Path | None = None,
) -> Outcome:
    """Train, evaluate and time ``cell`` of ``task`` on ``data``; with ``init_from`` (a saved
    model, ``bench.transfer.resolve``), its encoder's weights first.

    TensorFlow XLA cells (``jit_compile=True``) run with op determinism off, and say so
    (``speed.xla_allowed``).

    Raises:
        bench.train.Diverged: the training loss became NaN; its ``flow`` holds the gradient
            flow recorded before it.
        bench.devices.Unavailable: the cell's device or replicas are not there (the runner
            records the cell as skipped, with the reason).
    """
    placement = devices.place(cell.device, cell.replicas)
    host, device = devices.HostMemory(), devices.DeviceMemory(placement)
    host.start()
    device.start()
    with (
        speed.xla_allowed(cell.jit_compile) as deterministic,
        devices.running(placement, cell.precision),
    ):
        outcome = _run(task, cell, data, log_dir, verbose, init_from)
        outcome.speed = dataclasses.replace(
            outcome.speed,
            device=placement.kind,
            device_count=placement.count,
            device_names=placement.names,
            precision=cell.precision,
            host_peak_rss_bytes=host.peak(),
            device_peak_bytes=device.peak(),
            **devices.build_versions(placement),
        )
    for name in ("host_peak_rss_bytes", "device_peak_bytes"):
        value = getattr(outcome.speed, name)
        if value is not None:
            outcome.metrics[name] = Metric.of(name, value)
    outcome.deterministic = deterministic
    return outcome


def _run(
    task: Task, cell: Cell, data, log_dir: Path | None, verbose: int, init_from: Path | None
) -> Outcome:
    cfg = cell.train
    setup = task.setup(cell, data)  # builds the model: inside the cell's policy and scope
    loaded = transfer.load_encoder(setup.served, init_from) if init_from else None
    timed = setup.timed_steps is not None
    train.compile_model(
        setup.model,
        cfg,
        setup.timed_steps or setup.steps_per_epoch,
        loss=setup.loss,
        metrics=setup.metrics,
        jit_compile=cell.jit_compile,
        steps_per_execution=cfg.steps_per_execution,
    )
    callbacks, recorder, grads = _callbacks(setup, cfg.gradient_interval, log_dir)
    try:
        fitted = train.fit(
            setup.model,
            setup.train,
            setup.val,
            cfg,
            verbose=verbose,
            callbacks=callbacks,
            steps=setup.timed_steps,
        )
    finally:
        if grads is not None:
            grads.close()
    t0 = time.perf_counter()
    evaluation = None if timed else task.evaluate(setup, data, "test")
    eval_seconds = time.perf_counter() - t0
    metrics = dict(evaluation.metrics) if evaluation else {}
    if not timed:
        metrics.update(task.validation_metrics(setup, data, fitted.history))
    metrics.update(_training_metrics(fitted, setup.served, timed))
    record, speed_metrics = speed.cell_speed(
        setup.served,
        fitted.step_timing,
        setup.example,
        samples=setup.samples,
        jit_compile=setup.model.jit_compile,
        dtype=devices.compute_dtype(cell.precision),
        front_end=setup.front_end,
    )
    metrics.update(speed_metrics)
    flow = recorder.table() if recorder else None
    return Outcome(
        model=setup.served,
        metrics=metrics,
        evaluation={
            **(dict(evaluation.details) if evaluation else {}),
            **({"transfer": loaded} if loaded else {}),
        },
        history=fitted.history,
        best_epoch=fitted.best_epoch,
        timing=Timing(
            train_seconds=fitted.train_seconds,
            epoch_seconds=tuple(fitted.epoch_seconds),
            eval_seconds=None if timed else eval_seconds,
            steps=fitted.steps,
            fit_samples_per_s=_fit_rate(fitted, len(data.train)),
            step_seconds=tuple(fitted.step_seconds) if timed else (),
            step_losses=tuple(fitted.step_losses) if timed else (),
        ),
        speed=record,
        gradient_flow=gradient_summary(flow, recorder, fitted.train_seconds) if recorder else None,
        tables={"gradflow": flow} if flow is not None else {},
        deterministic=True,
    )


def _callbacks(setup: Setup, interval: int, log_dir: Path | None):
    """TensorBoard and the gradient-flow recorder (training cells with a probe only)."""
    callbacks: list = []
    recorder = grads = None
    if setup.probe_loss is not None and setup.timed_steps is None:
        grads = tensorboard.GradientWriter(log_dir) if log_dir else None
        probe = gradflow.Probe(setup.model, setup.probe_loss, setup.probe_batches)
        recorder = gradflow.Recorder(probe, interval, sink=grads)
        callbacks.append(recorder)
    if log_dir is not None:
        callbacks.append(tensorboard.callback(log_dir))
    return callbacks, recorder, grads


def _training_metrics(fitted: train.FitResult, served: keras.Model, timed: bool):
    """Throughput and size of every cell; loss and wall time of a trained (not timed) one."""
    rate = fitted.step_timing["train_samples_per_s"]
    out = {
        "train_samples_per_s": Metric.of("train_samples_per_s", rate),
        "params": Metric.of("params", count_params(served)),
    }
    if not timed:
        out["train_loss"] = Metric.of("train_loss", fitted.history["loss"][-1])
        out["train_seconds"] = Metric.of("train_seconds", fitted.train_seconds)
    return out


def _fit_rate(fitted: train.FitResult, examples: int) -> float:
    return examples * len(fitted.epoch_seconds) / max(fitted.train_seconds, 1e-9)


def gradient_summary(
    flow: pd.DataFrame, recorder: gradflow.Recorder | None, train_seconds: float | None
) -> GradientFlow:
    """The record's gradient-flow summary of a recorded table."""
    summary = gradflow.summarize(flow)
    return GradientFlow(
        init=summary.get("init", {}),
        end=summary.get("end", {}),
        steps=summary.get("steps", 0),
        interval=recorder.interval if recorder else None,
        seconds=recorder.seconds if recorder else None,
        overhead=recorder.seconds / max(train_seconds, 1e-9)
        if recorder and train_seconds
        else None,
    )
