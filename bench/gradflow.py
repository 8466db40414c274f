"""Gradient flow: per-layer gradient norms at initialization and during training.

For a model and a fixed probe set of batches, the L2 norm of the loss gradient with respect to
every trainable weight tensor is computed, grouped per layer (root of the summed squares of its
tensors) and tagged with its residual block (``block{i}_...`` layer names; the stem is block 0,
the head after the last block is -1) and its depth from the input (order of the
layer's first weight in the network). Beside each gradient norm: the layer's weight norm and its
update-to-weight ratio ``||w_after - w_before|| / ||w_before||`` over one optimizer step.

The gradients are taken with ``model.stateless_call`` so a probe never moves batch-norm
statistics or any other state of the model being trained. They use ``tf.GradientTape``: Keras 3
has no backend-neutral gradient API, so this module is the one place that is TensorFlow-only.
"""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

COLUMNS = ("step", "block", "layer", "depth", "grad_norm", "weight_norm", "update_ratio")
_BLOCK = re.compile(r"^block(\d+)_")
DEFAULT_INTERVAL = 50  # steps between recordings during training
STEM, HEAD = 0, -1  # block index of layers before the first and after the last residual block
VANISHED = 1e-3  # a block is "vanished" below this fraction of the largest block norm


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per trainable weight tensor: its layer, block index and depth from the input."""
    # A weight path ends in ".../<layer>/<weight>", also inside a wrapper model (e.g. CTC).
    names = [w.path.split("/")[-2] for w in model.trainable_weights]
    blocks = [_block_of(n) for n in names]
    order = {n: i for i, n in enumerate(dict.fromkeys(names))}
    return pd.DataFrame({"layer": names, "block": blocks, "depth": [order[n] for n in names]})


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

    def __init__(self, model: keras.Model, loss_fn, batches: list[tuple], *, compiled=True):
        if not batches:
            raise ValueError("a gradient probe needs at least one batch")
        self.model = model
        self.loss_fn = loss_fn
        self.batches = [tf.nest.map_structure(tf.convert_to_tensor, b) for b in batches]
        self.table = layer_table(model)
        # Compiled for repeated probes during training; eager for a one-off probe of a very deep
        # net, where tracing a graph of a thousand layers costs minutes and one eager pass seconds.
        self._grad = (
            tf.function(self._grad_eager, reduce_retracing=True) if compiled else self._grad_eager
        )

    def _grad_eager(self, trainable, non_trainable, x, y):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            logits, _ = self.model.stateless_call(trainable, non_trainable, x, training=True)
            loss = self.loss_fn(x, y, logits)
        grads = tape.gradient(loss, trainable)
        return loss, [tf.norm(g) if g is not None else tf.zeros(()) for g in grads]

    def tensor_grad_norms(self, n_batches: int | None = None) -> np.ndarray:
        """Per-tensor gradient L2 norms averaged over the first ``n_batches`` probe batches."""
        trainable = [v.value for v in self.model.trainable_variables]
        non_trainable = [v.value for v in self.model.non_trainable_variables]
        norms = [
            np.array([float(n) for n in self._grad(trainable, non_trainable, x, y)[1]])
            for x, y in self.batches[:n_batches]
        ]
        return np.mean(norms, axis=0)

    def rows(self, step: int, grad_norms: np.ndarray, before=None) -> pd.DataFrame:
        """Per-layer rows for one recording: grad, weight and update norms combined per layer."""
        weights = [np.asarray(v) for v in self.model.trainable_weights]
        t = self.table.assign(
            grad_sq=grad_norms**2,
            weight_sq=[float(np.sum(w.astype(np.float64) ** 2)) for w in weights],
            update_sq=[
                float(np.sum((w.astype(np.float64) - b) ** 2)) if before is not None else math.nan
                for w, b in zip(weights, before or weights, strict=True)
            ],
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
        )


class Recorder(keras.callbacks.Callback):
    """Records gradient flow at initialization (step 0) and every ``interval`` training steps.

    Initialization is averaged over all probe batches; later recordings use the first probe batch
    (fixed, so changes over training are changes of the model, not of the data).
    """

    def __init__(self, probe: Probe, interval: int = DEFAULT_INTERVAL) -> None:
        super().__init__()
        if interval < 1:
            raise ValueError(f"gradient interval must be >= 1. Received: interval={interval}")
        self.probe = probe
        self.interval = interval
        self.frames: list[pd.DataFrame] = []
        self.seconds = 0.0
        self._step = 0
        self._before = None

    def on_train_begin(self, logs=None):
        self._timed(lambda: self.frames.append(self.probe.rows(0, self.probe.tensor_grad_norms())))

    def on_train_batch_begin(self, batch, logs=None):
        if (self._step + 1) % self.interval == 0:
            self._timed(self._snapshot)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._before is not None:
            self._timed(self._record)

    def _snapshot(self):
        self._before = [np.asarray(v).astype(np.float64) for v in self.model.trainable_weights]

    def _record(self):
        norms = self.probe.tensor_grad_norms(1)
        self.frames.append(self.probe.rows(self._step, norms, self._before))
        self._before = None

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
