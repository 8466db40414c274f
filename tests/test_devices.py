"""Device, precision and memory axes on a CPU-only machine (bench.devices, bench.axes, the loop).

What a GPU machine does differently (a GPU placement, device memory, CUDA versions) goes through
the same code; here a ``gpu`` cell is skipped with its reason, and each precision policy trains.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import models
from bench import axes, devices, runner, suite, train
from bench.config import PRECISIONS, TrainConfig
from results import store
from results.record import CellResult

ROOT = Path(__file__).resolve().parents[1]


def test_default_axes_keep_the_committed_cell_ids():
    baseline = json.loads((ROOT / "bench/baselines/smoke.json").read_text())
    assert {c.id for c in suite.load("smoke").cells()} == set(baseline["cells"])


def test_non_default_axes_suffix_the_id_and_expand_the_precision_axis():
    s = axes.override(
        suite.load("smoke"), device="cpu", precision=["float32", "mixed_bfloat16"], replicas=2
    )
    ids = [c.id for c in s.cells()]
    assert len(ids) == 2 * len(suite.load("smoke").cells()) == len(set(ids))
    assert "kws-synth-words-tc-resnet8-d1-res-s0-cpu-r2" in ids
    assert "kws-synth-words-tc-resnet8-d1-res-s0-cpu-bf16-r2" in ids
    cell = s.cells()[0]
    assert CellResult(cell=cell.info(), status="skipped").cell.replicas == 2


def _tiny(**top) -> dict:
    return {
        "name": "tiny",
        "seeds": [0],
        "train": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0},
        **top,
        "experiment": [
            {
                "task": "kws",
                "dataset": "synth-words",
                "dataset_options": {"profile": "tiny"},
                "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}],
            }
        ],
    }


def test_suite_axes_parse_at_top_level_and_per_experiment_and_refuse_bad_values():
    s = suite.parse(_tiny(device="cpu", precision=["mixed_float16"], replicas=2), "t")
    (exp,) = s.experiments
    assert (exp.device, exp.precision, exp.replicas) == ("cpu", ("mixed_float16",), 2)
    data = _tiny(precision=["float32"])
    data["experiment"][0]["precision"] = ["mixed_bfloat16"]
    assert suite.parse(data, "t").experiments[0].precision == ("mixed_bfloat16",)
    for bad, match in (
        ({"device": "tpu"}, "device must be one of"),
        ({"precision": ["float16"]}, "precision must be"),
        ({"replicas": 0}, "replicas must be"),
    ):
        with pytest.raises(ValueError, match=match):
            suite.parse(_tiny(**bad), "t")
    with pytest.raises(ValueError, match="steps_per_execution"):
        TrainConfig(steps_per_execution=0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_front_end_and_logits_stay_float32_under_a_mixed_policy(policy):
    with devices.precision(policy):
        for preset, head in (("tc-resnet8", "classify"), ("res8", "classify")):
            model = models.build(preset, num_classes=5, depth=1, head=head)
            layers = {layer.name: layer for layer in model.layers}
            for name in ("log_mel", "log_mel_scale", "logits"):
                assert layers[name].compute_dtype == "float32", (preset, name)
            half = [la for la in model.layers if la.compute_dtype != "float32"]
            assert half, "the encoder should compute in half precision"
            out = model(np.zeros((2, 16000), "float32"))
            assert keras.backend.standardize_dtype(out.dtype) == "float32"
        ctc = models.build("quartznet-5x5", num_classes=29, head="ctc")
        assert ctc.get_layer("logits").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # reset on exit


def test_mixed_float16_compiles_with_loss_scaling():
    with devices.precision("mixed_float16"):
        model = models.build("tc-resnet8", num_classes=3, depth=1)
        train.compile_model(model, TrainConfig(epochs=2), 4, "mse", None)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    with devices.precision("mixed_bfloat16"):
        model = models.build("tc-resnet8", num_classes=3, depth=1)
        train.compile_model(model, TrainConfig(epochs=2), 4, "mse", None)
        assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def _cpu_only():
    if devices.visible("gpu"):
        pytest.skip("a GPU is visible: these tests are about a CPU-only machine")


def test_placement_on_a_cpu_only_machine():
    _cpu_only()
    placement = devices.place("auto", 1)
    assert placement.kind == "cpu" and placement.count == 1
    with pytest.raises(devices.Unavailable, match="no GPU"):
        devices.place("gpu", 1)
    with pytest.raises(devices.Unavailable, match="replicas=64"):
        devices.place("cpu", 64)
    memory = devices.DeviceMemory(placement)
    memory.start()
    assert memory.peak() is None
    assert devices.build_versions(placement) == {"cuda_version": None, "cudnn_version": None}


def test_calibration_peak_is_measured_per_compute_dtype():
    from bench import speed

    f32 = speed.peak_gflops(size=256, repeats=2)
    bf16 = speed.peak_gflops(size=256, repeats=2, dtype="bfloat16")
    assert f32 > 0 and bf16 > 0
    size = speed._peak.cache_info().currsize
    assert speed.peak_gflops(size=256, repeats=2, dtype="bfloat16") == bf16  # cached per dtype
    assert speed._peak.cache_info().currsize == size


def test_host_peak_is_reset_between_spans():
    host = devices.HostMemory()
    host.start()
    big = np.ones(64 * 2**20 // 8)  # 64 MiB touched
    high = host.peak()
    del big
    host.start()
    assert host.reset, "writing /proc/self/clear_refs was refused"
    assert high - host.peak() > 32 * 2**20


@pytest.mark.slow
def test_every_precision_trains_and_a_gpu_cell_is_skipped(tmp_path):
    _cpu_only()
    data = _tiny(device="cpu", precision=list(PRECISIONS))
    data["train"]["steps_per_execution"] = 2
    gpu = dict(data["experiment"][0], name="on-gpu", device="gpu", precision=["float32"])
    data["experiment"].insert(0, gpu)
    s = suite.parse(data, "tiny")
    summary = runner.run_suite(s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)
    results = {r.cell.id: r for r in store.read_results(tmp_path / "run")}
    assert summary.ok and sorted(summary.statuses.items()) == [("ok", 3), ("skipped", 1)]
    (skipped,) = [r for r in results.values() if r.status == "skipped"]
    assert skipped.cell.device == "gpu" and "no GPU" in skipped.error
    for policy in PRECISIONS:
        (r,) = [r for r in results.values() if r.ok and r.cell.precision == policy]
        assert np.isfinite(r.metrics["train_loss"].value)
        sp = r.speed
        assert (sp.device, sp.device_count, sp.precision) == ("cpu", 1, policy)
        assert sp.compute_dtype == devices.compute_dtype(policy)
        assert sp.host_peak_rss_bytes > 50e6 and sp.device_peak_bytes is None
        assert r.metrics["host_peak_rss_bytes"].unit == "bytes"
        assert sp.cuda_version is None
        assert 0 <= sp.data_wait_share < 0.5  # measured with steps_per_execution=2
    assert keras.config.dtype_policy().name == "float32"


class _FakeDevice:
    def __init__(self):
        self.stats = {"peak_bytes_in_use": 0, "bytes_in_use": 0}

    def memory_stats(self):
        return dict(self.stats)


def test_device_peaks_are_each_cells_own_on_jax_and_torch(monkeypatch):
    """Two cells in one process: the second cell's device peak is its own, not the first's.
    PyTorch resets its counter; JAX cannot, and then says None rather than the first cell's."""
    import sys
    import types

    gpu = devices.Placement("gpu", ("/device:GPU:0",))
    # JAX: a fake device whose peak only grows
    device = _FakeDevice()
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(devices=lambda kind: [device]))
    monkeypatch.setattr(devices, "_backend", lambda: "jax")
    first = devices.DeviceMemory(gpu)
    first.start()
    device.stats = {"peak_bytes_in_use": 900, "bytes_in_use": 100}
    assert first.peak() == 900  # nothing before it: the peak is the first cell's
    second = devices.DeviceMemory(gpu)
    second.start()
    device.stats["peak_bytes_in_use"] = 900  # the second cell used at most 900: unknown
    assert second.peak() is None
    third = devices.DeviceMemory(gpu)
    third.start()
    device.stats["peak_bytes_in_use"] = 1500  # a new high: the third cell's
    assert third.peak() == 1500
    # PyTorch: the counter is reset at each cell's start
    allocated = {"peak": 0}

    def reset_peak(index):
        allocated["peak"] = 0

    torch = types.SimpleNamespace(
        cuda=types.SimpleNamespace(
            reset_peak_memory_stats=reset_peak, max_memory_allocated=lambda i: allocated["peak"]
        )
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(devices, "_backend", lambda: "torch")
    allocated["peak"] = 5000  # an earlier cell's
    cell = devices.DeviceMemory(gpu)
    cell.start()
    allocated["peak"] = max(allocated["peak"], 1200)
    assert cell.peak() == 1200


def test_replicas_on_pytorch_are_refused_by_name(monkeypatch):
    """Keras 3 has no PyTorch data parallelism: a replicas > 1 cell there is Unavailable (the
    runner records it skipped) with a reason naming the backends that have it."""
    monkeypatch.setattr(devices, "_backend", lambda: "torch")
    two = devices.Placement("cpu", ("/device:CPU:0", "/device:CPU:1"))
    refused = pytest.raises(devices.Unavailable, match="torch backend.*--backend jax or tensorflow")
    with refused, devices.running(two):
        pass
    with devices.running(devices.Placement("cpu", ("/device:CPU:0",))):
        pass  # one device is fine
