"""Micro-benchmarks (pytest-benchmark): a forward pass and one training step per family x depth.

The test command runs them once untimed, for their checks (``--benchmark-disable`` is the default,
``bench/benchmarks/conftest.py``); time them with

    python -m pytest bench/benchmarks --benchmark-enable --benchmark-autosave   # .benchmarks/
    python -m pytest bench/benchmarks --benchmark-enable --benchmark-compare    # vs the last run

(``tox -e microbench``). Results are grouped per family and pass (``benchmark.group``), so a
comparison reads as "res2d forward: depth 3 vs 6, residual vs plain". Each benchmark records the
model's forward FLOPs per example and the process's calibration peak in ``extra_info``, so saved
runs from different machines can be put on one scale.

Each benchmark first checks that what it is about to time computes the right thing, so a
benchmark of a broken model fails instead of reporting a speed: the forward pass against the
model's own eager call (same logits), the training step against the cross-entropy of the
training-mode forward pass (same loss) and by the weights it moves (all finite).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import models
from bench import flops, speed

BATCH = 16
SAMPLES = 16_000  # one second of 16 kHz audio
CLASSES = 12
ROUNDS = 5
# (preset, depth) per family: its published depth and about twice it.
CASES = [
    ("res8", 3),
    ("res8", 6),
    ("tc-resnet8", 3),
    ("tc-resnet8", 6),
    ("quartznet-small", 5),
    ("quartznet-small", 10),
]
IDS = [f"{p}-d{d}" for p, d in CASES]


def _model(preset: str, depth: int, residual: bool) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = models.build(preset, num_classes=CLASSES, depth=depth, residual=residual)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _batch():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((BATCH, SAMPLES))).astype("float32")
    return x, rng.integers(0, CLASSES, BATCH).astype("int32")


def _describe(benchmark, model, preset: str, depth: int, residual: bool, what: str) -> None:
    family = models.describe(preset)["family"]
    benchmark.group = f"{family} {what}"
    benchmark.extra_info.update(
        preset=preset,
        depth=depth,
        residual=residual,
        batch=BATCH,
        backend=keras.backend.backend(),
        flops_per_example=flops.per_example(model, SAMPLES),
        peak_gflops=speed.peak_gflops(),
    )


@pytest.mark.parametrize("residual", [True, False], ids=["res", "plain"])
@pytest.mark.parametrize(("preset", "depth"), CASES, ids=IDS)
def test_forward(benchmark, preset, depth, residual):
    model = _model(preset, depth, residual)
    x, _ = _batch()
    first = model.predict_on_batch(x)  # traces outside the timing
    reference = np.asarray(model(x, training=False))  # eager call: what the model computes
    assert first.shape == (BATCH, CLASSES) and np.isfinite(first).all()
    np.testing.assert_allclose(first, reference, rtol=1e-4, atol=1e-5)
    _describe(benchmark, model, preset, depth, residual, "forward")
    out = benchmark.pedantic(model.predict_on_batch, args=(x,), rounds=ROUNDS, warmup_rounds=1)
    np.testing.assert_array_equal(out, first)  # the timed calls computed the same logits


@pytest.mark.parametrize("residual", [True, False], ids=["res", "plain"])
@pytest.mark.parametrize(("preset", "depth"), CASES, ids=IDS)
def test_train_step(benchmark, preset, depth, residual):
    model = _model(preset, depth, residual)
    x, y = _batch()
    model(x[:1], training=False)  # build the weights
    before = [np.array(w) for w in model.trainable_weights]
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = float(xent(y, model(x, training=True)))  # the loss the first step must report
    loss = float(model.train_on_batch(x, y))  # traces and builds the optimizer outside the timing
    assert np.isfinite(loss) and loss == pytest.approx(expected, rel=1e-4)
    after = [np.asarray(w) for w in model.trainable_weights]
    assert all(np.isfinite(w).all() for w in after)
    moved = sum(not np.array_equal(a, b) for a, b in zip(after, before, strict=True))
    assert moved > len(before) // 2, f"the step moved only {moved} of {len(before)} weights"
    _describe(benchmark, model, preset, depth, residual, "train step")
    loss = benchmark.pedantic(model.train_on_batch, args=(x, y), rounds=ROUNDS, warmup_rounds=1)
    assert np.isfinite(loss)
