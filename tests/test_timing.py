"""The timing task and the backend axis: speed of a cell on each Keras backend, in one run."""

import importlib.util
import os

import pytest

from bench import runner, suite
from bench.config import XLA_BACKENDS
from results import store

pytestmark = pytest.mark.slow


def _suite(backends, jit_compile=(False,)):
    return suite.parse(
        {
            "name": "timing-tiny",
            "seeds": [0],
            "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0.0},
            "experiment": [
                {
                    "name": "t",
                    "task": "timing",
                    "dataset": "synth-words",
                    "dataset_options": {"profile": "tiny"},
                    "backends": list(backends),
                    "jit_compile": list(jit_compile),
                    "models": [{"preset": "tc-resnet8", "depths": [1], "residual": [True]}],
                }
            ],
        },
        "timing-tiny",
    )


def test_backends_and_xla_expand_into_cells_only_where_xla_applies():
    s = _suite(["tensorflow", "jax", "torch"], [True, False])
    ids = [c.id for c in s.cells()]
    assert ids == [
        "timing-t-tc-resnet8-d1-res-s0-tf-xla",
        "timing-t-tc-resnet8-d1-res-s0-tf-noxla",
        "timing-t-tc-resnet8-d1-res-s0-jax",
        "timing-t-tc-resnet8-d1-res-s0-torch",
    ]
    assert XLA_BACKENDS == ("tensorflow",)


def test_training_tasks_sweep_backends_and_an_unknown_backend_is_refused():
    data = {
        "name": "x",
        "experiment": [
            {
                "task": task,
                "dataset": dataset,
                "backends": ["tensorflow", "jax", "torch"],
                "models": [{"preset": preset}],
            }
            for task, dataset, preset in (
                ("kws", "synth-words", "tc-resnet8"),
                ("asr", "synth-sentences", "tc-resnet8-ctc"),
            )
        ],
    }
    cells = suite.parse(data, "x").cells()
    for task in ("kws", "asr"):
        backends = [c.backend for c in cells if c.task == task]
        assert backends and sorted(set(backends)) == ["jax", "tensorflow", "torch"]
        assert backends.count("jax") == backends.count("torch") == backends.count("tensorflow")
    data["experiment"][0]["backends"] = ["theano"]
    with pytest.raises(ValueError, match="backends must be"):
        suite.parse(data, "x")


def _need_backend(backend: str) -> None:
    """Skip without ``backend``, except where it is required (``tox -e backends`` sets
    ``$RESDEPTH_REQUIRE_BACKENDS``): there a missing backend fails, so CI cannot skip the test."""
    if importlib.util.find_spec(backend):
        return
    required = os.environ.get("RESDEPTH_REQUIRE_BACKENDS", "").split(",")
    if backend in required:
        pytest.fail(f"{backend} is required here ($RESDEPTH_REQUIRE_BACKENDS) but not installed")
    pytest.skip(f"{backend} is not installed (pip install -e .[{backend}], or tox -e backends)")


@pytest.mark.parametrize("other", ["jax", "torch"])
def test_timing_cells_in_process_and_in_a_backend_child(tmp_path, other):
    """A real round trip: the runner starts ``python -m bench run --backend OTHER`` as a child
    process (``KERAS_BACKEND=OTHER``), which trains and times its cell and writes the result."""
    _need_backend(other)
    s = _suite(["tensorflow", other])
    run_dir = tmp_path / "run"
    cache = tmp_path / "cache"
    summary = runner.run_suite(s, run_dir, cache_dir=cache, verbose=0)
    results = {r.cell.id: r for r in store.read_results(run_dir)}
    assert summary.ok, {k: r.traceback or r.error for k, r in results.items()}
    assert len(results) == 2
    for cell in s.cells():
        r = results[cell.id]
        sp = r.speed
        assert sp.backend == r.environment["backend"] == cell.backend
        assert r.metrics["train_samples_per_s"].value > 0
        assert sp.flops_per_example > 0 and 0 < sp.utilization < 1
        assert store.model_path(run_dir, cell.id).is_file()
    assert results[s.cells()[0].id].speed.jit_compile is False
    # resumed: nothing reruns, the child's cells included
    again = runner.run_suite(s, run_dir, cache_dir=cache, verbose=0)
    assert again.resumed == 2 and again.ok


def test_a_child_that_dies_records_its_cells_as_errors(tmp_path, monkeypatch):
    import subprocess

    s = _suite(["jax"])
    run_dir = tmp_path / "run"

    def dead(*args, **kwargs):
        return subprocess.CompletedProcess([], 3, stderr="ImportError: no jax here\n")

    monkeypatch.setattr(runner, "run_backend_child", dead)
    summary = runner.run_suite(s, run_dir, cache_dir=tmp_path / "cache", verbose=0)
    (r,) = store.read_results(run_dir)
    assert summary.statuses == {"error": 1}
    assert "code 3" in r.error and "no jax here" in r.traceback


def test_xla_on_tensorflow_runs_without_op_determinism_and_says_so(tmp_path):
    from tensorflow.python.framework import config as tf_config

    s = _suite(["tensorflow"], [True, False])
    runner.run_suite(s, tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)
    results = {r.cell.id: r for r in store.read_results(tmp_path / "run")}
    xla, plain = (results[c.id] for c in s.cells())
    assert xla.status == plain.status == "ok"
    # XLA really compiled (Keras would have fallen back under determinism), and it is recorded
    assert xla.speed.jit_compile is True and xla.deterministic is False
    assert plain.speed.jit_compile is False and plain.deterministic is True
    assert tf_config.is_op_determinism_enabled()  # restored for the cells after


def test_a_torch_child_waits_passively_unless_told_otherwise(tmp_path, monkeypatch):
    import subprocess

    seen = {}

    def fake_run(cmd, env, **kwargs):
        seen[env["KERAS_BACKEND"]] = env.get("OMP_WAIT_POLICY")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for backend in ("torch", "jax"):
        runner.run_backend_child(tmp_path, backend, data_dir=None, cache_dir=None, quiet=True)
    assert seen == {"torch": "PASSIVE", "jax": None}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    runner.run_backend_child(tmp_path, "torch", data_dir=None, cache_dir=None, quiet=True)
    assert seen["torch"] == "ACTIVE"
