"""The hand-written PyTorch res8 of ``bench/benchmarks/torch_reference.py`` is the suite's res8:
the same trainable weights, shape for shape, at two depths; and one measurement runs."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.tasks.base import count_params
from tests.test_timing import _need_backend

ROOT = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location(
        "torch_reference", ROOT / "bench" / "benchmarks" / "torch_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("torch_reference", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("depth", [3, 6])
def test_the_torch_reference_has_res8s_weights(depth):
    _need_backend("torch")
    import models

    ref = _reference()
    net = ref.torch_net(depth)
    torch_shapes = sorted(tuple(p.shape) for p in net.parameters())
    keras_net = models.build("res8", num_classes=ref.CLASSES, depth=depth, residual=True)
    keras_shapes = sorted(
        tuple(w.shape) if len(w.shape) != 4 else (w.shape[3], w.shape[2], *w.shape[:2])
        for w in keras_net.trainable_weights
    )
    to_torch = sorted(s if len(s) != 2 else (s[1], s[0]) for s in keras_shapes)
    assert torch_shapes == to_torch
    assert sum(int(np.prod(s)) for s in torch_shapes) == count_params(keras_net)


def test_the_torch_reference_one_eager_measurement_trains(monkeypatch):
    _need_backend("torch")
    ref = _reference()
    monkeypatch.setattr(ref, "STEPS", 2)
    row = ref.one("torch-eager", 3, 4)
    assert row["impl"] == "torch-eager" and row["samples_per_s"] > 0
