"""Gradient flow at initialization only: no training, seconds per cell at any depth.

Builds the cell's classifier and records per-layer gradient norms averaged over fixed training
batches (``bench.gradflow``): seconds even at 128 blocks, whose blocks run as one loop
(``models.repeat``). The cell's headline numbers are the gradient-flow
statistics (diagnostics, not scores: no direction is "better"), kept in ``gradient_flow``; there
is no accuracy, since nothing is trained.
"""

from __future__ import annotations

import time

import keras

from bench import gradflow, metrics
from bench.config import Cell
from bench.tasks import kws
from datasets.base import KwsData

DATA_KIND = "kws"
PROBE_BATCH = 16  # examples per probe batch; ``train.batch_size`` is ignored at init


def run(cell: Cell, data: KwsData, *, verbose: int = 2) -> tuple[dict, keras.Model]:
    """Record the gradient flow of the freshly initialized model."""
    t0 = time.perf_counter()
    model = kws.build(cell, data)
    build_seconds = time.perf_counter() - t0
    batches = kws.probe_batches(data, PROBE_BATCH, cell.seed)
    probe = gradflow.Probe(model, lambda x, y, p: kws.LOSS(y, p), batches)
    t0 = time.perf_counter()
    flow = probe.rows(0, probe.tensor_grad_norms())
    probe_seconds = time.perf_counter() - t0
    return {
        "metrics": {"params": metrics.record("params", kws.count_params(model))},
        "gradient_flow": {
            **gradflow.summarize(flow),
            "seconds": probe_seconds,
            "batches": len(batches),
        },
        "tables": {"gradflow": flow},
        "timing": {"build_seconds": build_seconds, "probe_seconds": probe_seconds},
    }, model


def evaluate_saved(model: keras.Model, data: KwsData, meta: dict, split: str = "test") -> dict:
    """A saved init-only model is an untrained classifier: score it like any other."""
    return kws.evaluate_saved(model, data, meta, split)
