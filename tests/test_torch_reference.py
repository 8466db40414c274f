"""The hand-written PyTorch res8 of ``bench/benchmarks/torch_reference.py`` is the suite's res8:
the same trainable weights, shape for shape, at two depths; and one measurement runs."""


import numpy as np
import pytest

from bench.tasks.base import count_params
from tests.test_timing import _need_backend


@pytest.mark.parametrize("depth", [3, 6])
def test_the_torch_reference_has_res8s_weights(depth, benchmark_script):
    _need_backend("torch")
    import models

    ref = benchmark_script("torch_reference")
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


def test_the_torch_reference_one_eager_measurement_trains(monkeypatch, benchmark_script):
    _need_backend("torch")
    ref = benchmark_script("torch_reference")
    monkeypatch.setattr(ref, "STEPS", 2)
    row = ref.one("torch-eager", 3, 4)
    assert row["impl"] == "torch-eager" and row["samples_per_s"] > 0
