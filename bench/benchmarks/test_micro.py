"""Micro-benchmarks (pytest-benchmark): a forward pass and one training step per family x depth.

Not part of the unit tests (``testpaths`` is ``tests``); run them with

    python -m pytest bench/benchmarks --benchmark-autosave      # saved under .benchmarks/
    python -m pytest bench/benchmarks --benchmark-compare       # against the last saved run

(``tox -e microbench``). Results are grouped per family and pass (``benchmark.group``), so a
comparison reads as "res2d forward: depth 3 vs 6, residual vs plain". Each benchmark records the
model's forward FLOPs per example and the process's calibration peak in ``extra_info``, so saved
runs from different machines can be put on one scale.
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
    model.predict_on_batch(x)  # trace outside the timing
    _describe(benchmark, model, preset, depth, residual, "forward")
    out = benchmark.pedantic(model.predict_on_batch, args=(x,), rounds=ROUNDS, warmup_rounds=1)
    assert out.shape == (BATCH, CLASSES) and np.isfinite(out).all()


@pytest.mark.parametrize("residual", [True, False], ids=["res", "plain"])
@pytest.mark.parametrize(("preset", "depth"), CASES, ids=IDS)
def test_train_step(benchmark, preset, depth, residual):
    model = _model(preset, depth, residual)
    x, y = _batch()
    model.train_on_batch(x, y)  # trace and build the optimizer outside the timing
    _describe(benchmark, model, preset, depth, residual, "train step")
    loss = benchmark.pedantic(model.train_on_batch, args=(x, y), rounds=ROUNDS, warmup_rounds=1)
    assert np.isfinite(loss)
