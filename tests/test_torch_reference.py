"""The hand-written PyTorch nets of ``bench/benchmarks/torch_reference.py`` are the suite's res8
and QuartzNet: the same trainable weights, shape for shape, at two depths; and one measurement
of each, on each side, runs."""

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


def _canonical(shape) -> tuple[int, ...]:
    """A weight's shape without its unit axes, sorted: the same for a Keras kernel and its
    PyTorch twin (``(k, cin, 1)`` and ``(cin, 1, k)``; ``(cin, cout)`` and ``(cout, cin)``)."""
    return tuple(sorted(int(d) for d in shape if d != 1))


@pytest.mark.parametrize("depth", [5, 10])
def test_the_torch_quartznet_has_quartznets_weights(depth, benchmark_script):
    _need_backend("torch")
    import models
    from bench.tasks.asr.ctc import NUM_OUTPUTS

    ref = benchmark_script("torch_reference")
    net = ref.torch_quartznet(depth)
    keras_net = models.build("quartznet-small", num_classes=NUM_OUTPUTS, depth=depth, head="ctc")
    torch_shapes = sorted(_canonical(p.shape) for p in net.parameters())
    assert torch_shapes == sorted(_canonical(w.shape) for w in keras_net.trainable_weights)
    assert sum(p.numel() for p in net.parameters()) == count_params(keras_net)


def test_the_torch_quartznet_gives_the_keras_frame_count(benchmark_script):
    """Its stride and padding give as many frames as ``models.output_frames``: the CTC lengths
    of its loss are the Keras ones."""
    _need_backend("torch")
    import torch

    import models

    ref = benchmark_script("torch_reference")
    out = ref.torch_quartznet(5).eval()(torch.zeros(2, 8_000))
    assert out.shape[1] == int(models.output_frames("quartznet-small", 8_000, depth=5))


@pytest.mark.parametrize(
    ("impl", "net", "depth"),
    [("torch-eager", "res8", 3), ("torch-eager", "quartznet-small", 5),
     ("keras", "quartznet-small", 5)],
)  # fmt: skip
def test_one_measurement_trains(impl, net, depth, monkeypatch, benchmark_script):
    """One measurement of each side: a rate and a finite loss (CTC over lengths it can align).
    ``keras`` runs in this process, on the backend the tests run on."""
    import math

    import keras

    if impl.startswith("torch"):
        _need_backend("torch")
    else:
        impl = f"keras-{keras.backend.backend()}"
    ref = benchmark_script("torch_reference")
    monkeypatch.setattr(ref, "STEPS", 2)
    monkeypatch.setattr(ref, "WARMUP", 1)
    row = ref.one(impl, depth, 4, net)
    assert row["net"] == net and row["samples_per_s"] > 0 and math.isfinite(row["loss"]), row
