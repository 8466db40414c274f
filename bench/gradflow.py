"""Gradient flow: per-layer gradient norms at initialization and during training.

For a model and a fixed probe set of batches, the L2 norm of the loss gradient with respect to
every trainable weight tensor is computed, grouped per layer (root of the summed squares of its
tensors) and tagged with its residual block (``block{i}_...`` layer names; the stem is block 0,
the head after the last block is -1) and its depth from the input (order of the
layer's first weight in the network). Beside each gradient norm: the layer's weight norm and its
update-to-weight ratio ``||w_after - w_before|| / ||w_before||`` over one optimizer step.

The gradients are taken with ``model.stateless_call`` so a probe never moves batch-norm
statistics or any other state of the model being trained. Keras 3 has no backend-neutral
gradient API, so ``_gradient_fn`` is the one adapter per backend: ``tf.GradientTape`` in a
``tf.function`` on TensorFlow, ``jax.grad`` under ``jax.jit`` on JAX, ``torch.autograd.grad``
on PyTorch. Everything else here is backend-neutral.
"""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pandas as pd

from bench import speed
from results.record import VANISHED

COLUMNS = ("step", "block", "layer", "depth", "grad_norm", "weight_norm", "update_ratio")
_BLOCK = re.compile(r"^block(\d+)_")
DEFAULT_INTERVAL = 50  # steps between recordings during training
STEM, HEAD = 0, -1  # block index of layers before the first and after the last residual block


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per trainable weight tensor, or per copy of a looped block's stacked tensor.

    Columns: ``layer``, ``block`` index, ``depth`` from the input, and where the row's values
    live: ``tensor`` (index into ``model.trainable_weights``) and ``copy`` (row of a
    ``models.repeat.Repeat`` stacked tensor, or -1). A looped model gets the same rows as the
    unrolled one.
    """
    index = {id(w): k for k, w in enumerate(model.trainable_weights)}
    looped = {id(w): r for r in _repeats(model) for w in r.stacked}
    rows, done = [], set()
    for k, w in enumerate(model.trainable_weights):
        if id(w) not in looped:
            # A weight path ends in ".../<layer>/<weight>", also inside a wrapper (e.g. CTC).
            rows.append((w.path.split("/")[-2], k, -1))
            continue
        repeat = looped[id(w)]
        if id(repeat) in done:
            continue
        done.add(id(repeat))  # all its copies now, in block order, so depth follows the blocks
        learned = [(j, v) for j, v in enumerate(repeat.stacked) if id(v) in index]
        rows += [
            (repeat.layer_name(j, c), index[id(v)], c)
            for c in range(repeat.count)
            for j, v in learned
        ]
    t = pd.DataFrame(rows, columns=["layer", "tensor", "copy"])
    depth = {n: i for i, n in enumerate(dict.fromkeys(t["layer"]))}
    return t.assign(block=[_block_of(n) for n in t["layer"]], depth=[depth[n] for n in t["layer"]])[
        ["layer", "block", "depth", "tensor", "copy"]
    ]


def _repeats(model) -> list:
    """Every ``Repeat`` layer inside ``model``, nested models included."""
    from models.repeat import Repeat

    found = []
    for layer in model.layers:
        if isinstance(layer, Repeat):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += _repeats(layer)
    return found


def _squares(arrays: list[np.ndarray], table: pd.DataFrame) -> np.ndarray:
    """Sum of squares of each table row's values: a whole tensor, or one copy of a stack."""
    stacked = set(table["tensor"][table["copy"] >= 0])
    sums = []
    for k, a in enumerate(arrays):
        a = np.asarray(a, dtype=np.float64)
        per_copy = k in stacked
        sums.append(np.sum(a.reshape(a.shape[0], -1) ** 2, axis=1) if per_copy else np.sum(a**2))
    return _rows_of(sums, table)


def _block_of(layer: str) -> int:
    """``block{i}_*`` -> i; the stem -> 0; the head (tail convs, classifier) -> ``HEAD``."""
    m = _BLOCK.match(layer)
    if m:
        return int(m.group(1))
    return STEM if layer.startswith("stem") else HEAD


class Probe:
    """Computes per-tensor gradient norms of ``loss_fn`` on fixed batches, without side effects.

    ``batches`` are ``(x, y)`` pairs as the model's ``fit`` sees them (arrays or dicts of
    arrays); ``loss_fn(x, y, y_pred)`` is the training loss.
    """

    def __init__(self, model: keras.Model, loss_fn, batches: list[tuple]):
        if not batches:
            raise ValueError("a gradient probe needs at least one batch")
        self.model = model
        self.loss_fn = loss_fn
        self.batches = [keras.tree.map_structure(keras.ops.convert_to_tensor, b) for b in batches]
        self.table = layer_table(model)
        stacked = set(self.table["tensor"][self.table["copy"] >= 0])
        self._stacked = [k in stacked for k in range(len(model.trainable_weights))]
        self._grad = _gradient_fn(model, loss_fn, self._stacked)

    def tensor_grad_norms(self, n_batches: int | None = None) -> np.ndarray:
        """Gradient L2 norm of each ``table`` row, averaged over the first ``n_batches`` batches."""
        # Plain tensors of the current values: under a data-parallel strategy (replicas > 1) the
        # variables are mirrored, and the probe reads their (identical) primary copies outside
        # the replicas, one forward and backward pass over the whole probe batch.
        trainable = [_value(v) for v in self.model.trainable_variables]
        non_trainable = [_value(v) for v in self.model.non_trainable_variables]
        norms = []
        for x, y in self.batches[:n_batches]:
            sums = [
                keras.ops.convert_to_numpy(s) for s in self._grad(trainable, non_trainable, x, y)
            ]
            norms.append(np.sqrt(_rows_of(sums, self.table)))
        return np.mean(norms, axis=0)

    def rows(self, step: int, grad_norms: np.ndarray, before=None) -> pd.DataFrame:
        """Per-layer rows for one recording: grad, weight and update norms combined per layer."""
        weights = [np.asarray(v) for v in self.model.trainable_weights]
        update_sq = (
            _squares([w - b for w, b in zip(weights, before, strict=True)], self.table)
            if before is not None
            else np.full(len(self.table), math.nan)
        )
        t = self.table.assign(
            grad_sq=grad_norms**2, weight_sq=_squares(weights, self.table), update_sq=update_sq
        )
        g = t.groupby(["layer", "block", "depth"], sort=False)[
            ["grad_sq", "weight_sq", "update_sq"]
        ].sum(min_count=1)
        out = g.reset_index()
        return pd.DataFrame(
            {
                "step": step,
                "block": out["block"],
                "layer": out["layer"],
                "depth": out["depth"],
                "grad_norm": np.sqrt(out["grad_sq"]),
                "weight_norm": np.sqrt(out["weight_sq"]),
                "update_ratio": np.sqrt(out["update_sq"]) / np.sqrt(out["weight_sq"]),
            },
            columns=list(COLUMNS),
        ).sort_values("depth", kind="stable", ignore_index=True)


def _value(variable):
    """A variable's current value as a plain tensor of the backend (not the variable itself).

    Under a TensorFlow data-parallel strategy (replicas > 1) the variables are mirrored: this
    is their (identical) primary copy, read outside the replicas.
    """
    value = variable.value
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(value)
    if backend == "torch":
        return value.detach()
    return keras.ops.convert_to_tensor(value)


def _gradient_fn(model: keras.Model, loss_fn, stacked: list[bool]):
    """``(trainable, non_trainable, x, y) -> square sums`` of the loss gradient per tensor.

    The one backend-specific part of the probe: how a gradient is taken and compiled. Each
    branch evaluates the same ``model.stateless_call`` (training mode, state not written back)
    and the same ``_square_sums``, so the three give the same norms to float rounding.
    """

    def loss(trainable, non_trainable, x, y):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(x, y, logits)

    def sums(grads, trainable):
        return [_square_sums(g, v, s) for g, v, s in zip(grads, trainable, stacked, strict=True)]

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def taped(trainable, non_trainable, x, y):
            with tf.GradientTape() as tape:
                tape.watch(trainable)
                value = loss(trainable, non_trainable, x, y)
            return sums(tape.gradient(value, trainable), trainable)

        # Compiled: deep nets loop their blocks (``models.repeat``), so the trace stays cheap.
        return tf.function(taped, reduce_retracing=True)
    if backend == "jax":
        import jax

        grad = jax.grad(loss)
        return jax.jit(lambda tr, ntr, x, y: sums(grad(tr, ntr, x, y), tr))
    if backend == "torch":
        import torch

        def autograd(trainable, non_trainable, x, y):
            leaves = [t.detach().requires_grad_(True) for t in trainable]
            value = loss(leaves, non_trainable, x, y)
            grads = torch.autograd.grad(value, leaves, allow_unused=True)
            with torch.no_grad():
                return sums(grads, leaves)

        return autograd
    raise ValueError(f"no gradient probe for Keras backend {backend!r}")


def _square_sums(grad, value, stacked: bool):
    """Sum of squares of a gradient: one per tensor, or one per copy of a stacked tensor."""
    ops = keras.ops
    if grad is None:  # no path from the loss: a zero norm, shaped like the others
        return ops.zeros((value.shape[0],) if stacked else ())
    grad = ops.cast(grad, "float32")
    if stacked:
        return ops.sum(ops.reshape(grad, (grad.shape[0], -1)) ** 2, axis=-1)
    return ops.sum(grad**2)


def _rows_of(sums: list[np.ndarray], table: pd.DataFrame) -> np.ndarray:
    """Per-row values from per-tensor sums: a scalar per tensor or a vector per stacked one."""
    return np.array(
        [
            float(sums[k]) if c < 0 else float(sums[k][c])
            for k, c in zip(table["tensor"], table["copy"], strict=True)
        ]
    )


class Recorder(keras.callbacks.Callback):
    """Records gradient flow at initialization (step 0) and every ``interval`` training steps.

    Steps are training steps, not compiled calls: with ``steps_per_execution`` k the recording
    falls after the call that runs a multiple of ``interval``, under the steps completed then
    (``speed.StepCount``), and its update ratio spans that call's k steps.

    Initialization is averaged over all probe batches; later recordings use the first probe batch
    (fixed, so changes over training are changes of the model, not of the data).
    """

    def __init__(self, probe: Probe, interval: int = DEFAULT_INTERVAL, sink=None) -> None:
        super().__init__()
        if interval < 1:
            raise ValueError(f"gradient interval must be >= 1. Received: interval={interval}")
        self.probe = probe
        self.interval = interval
        self.sink = sink  # called as sink(step, rows) after each recording (e.g. TensorBoard)
        self.frames: list[pd.DataFrame] = []
        self.seconds = 0.0
        self._step = 0
        self._count = speed.StepCount()
        self._before = None

    def on_train_begin(self, logs=None):
        self._timed(lambda: self._add(self.probe.rows(0, self.probe.tensor_grad_norms())))

    def on_train_batch_begin(self, batch, logs=None):
        # a multiple of the interval among the steps this compiled call runs
        if any(step % self.interval == 0 for step in self._count.upcoming(self, batch)):
            self._timed(self._snapshot)

    def on_train_batch_end(self, batch, logs=None):
        self._step = self._count.end_call(self, batch)
        if self._before is not None:
            self._timed(self._record)

    def on_epoch_end(self, epoch, logs=None):
        self._count.end_epoch()

    def _snapshot(self):
        self._before = [np.asarray(v).astype(np.float64) for v in self.model.trainable_weights]

    def _record(self):
        # Reading ``Callback.model`` puts the trained values back into the variables first:
        # JAX's fit holds them apart from the model between its steps (the probe reads them).
        _ = self.model
        norms = self.probe.tensor_grad_norms(1)
        self._add(self.probe.rows(self._step, norms, self._before))
        self._before = None

    def _add(self, rows: pd.DataFrame) -> None:
        self.frames.append(rows)
        if self.sink is not None:
            self.sink(int(rows["step"].iloc[0]) if len(rows) else self._step, rows)

    def _timed(self, fn):
        t0 = _now()
        fn()
        self.seconds += _now() - t0

    def table(self) -> pd.DataFrame:
        """The tidy table of every recording (columns ``COLUMNS``)."""
        if not self.frames:
            return pd.DataFrame(columns=list(COLUMNS))
        return pd.concat(self.frames, ignore_index=True)


def _now() -> float:
    import time

    return time.perf_counter()


def block_norms(table: pd.DataFrame, step: int) -> pd.Series:
    """Gradient norm per residual block (1..B) at ``step``: root of the summed squares."""
    rows = table[(table["step"] == step) & (table["block"] >= 1)]
    return np.sqrt((rows["grad_norm"] ** 2).groupby(rows["block"]).sum())


def summarize(table: pd.DataFrame) -> dict:
    """First/last block ratio, log-norm slope over depth and vanished fraction, init and end."""
    if table.empty:
        return {}
    steps = sorted(table["step"].unique())
    out = {"init": _stats(block_norms(table, steps[0])), "steps": int(steps[-1])}
    if len(steps) > 1:
        out["end"] = _stats(block_norms(table, steps[-1]))
    return out


def _stats(norms: pd.Series) -> dict:
    norms = norms[norms.index >= 1]
    if norms.empty:
        return {}
    values = norms.to_numpy(dtype=float)
    positive = np.maximum(values, np.finfo(float).tiny)
    slope = (
        float(np.polyfit(norms.index.to_numpy(float), np.log10(positive), 1)[0])
        if len(values) > 1
        else 0.0
    )
    return {
        "first_last_ratio": float(values[0] / max(values[-1], np.finfo(float).tiny)),
        "log10_slope_per_block": slope,
        "vanished_fraction": float(np.mean(values < VANISHED * values.max())),
        "blocks": len(values),
    }
