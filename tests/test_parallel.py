"""``bench run --jobs``: the default count, cell claims, and a child that dies.

The end-to-end check (two cells trained at once give the metrics of one at a time) is in
``test_kill_and_determinism.py``, beside the other cross-process determinism tests.
"""

import os
import stat
import tomllib

import pytest

from bench import cli, parallel
from bench import suite as suites
from results import store

SUITE = """
name = "two"
seeds = [0]
[train]
epochs = 1
warmup_epochs = 0.0
[[experiment]]
task = "kws"
dataset = "synth-words"
dataset_options = { profile = "tiny" }
models = [{ preset = "tc-resnet8", depths = [1], residual = [true, false] }]
"""


def test_default_jobs_follow_cores_memory_cells_and_gpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)))
    monkeypatch.setattr(parallel, "gpu_visible", lambda: False)
    monkeypatch.setattr(parallel, "available_memory", lambda: 64 * 1024**3)
    assert parallel.default_jobs(100) == 8
    assert parallel.default_jobs(100, threads=2) == 4
    assert parallel.default_jobs(3) == 3  # no more than there are cells
    assert parallel.default_jobs(0) == 1
    monkeypatch.setattr(parallel, "available_memory", lambda: 7 * 1024**3)
    assert parallel.default_jobs(100) == 2  # 3 GiB a job
    monkeypatch.setattr(parallel, "gpu_visible", lambda: True)
    assert parallel.default_jobs(100) == 1


def test_gpu_visible_reads_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert parallel.gpu_visible()
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not parallel.gpu_visible()


def test_a_cell_is_claimed_once(tmp_path):
    assert store.claim(tmp_path, "a") and not store.claim(tmp_path, "a")
    assert store.claim(tmp_path, "b")
    store.clear_claims(tmp_path)
    assert store.claim(tmp_path, "a")


def test_cells_a_dead_child_left_are_errors_with_its_last_words(tmp_path):
    """Children that die before writing anything: every cell is an ``error`` record naming the
    exit code and carrying the child's stderr, and a rerun would retry them (not done)."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'worker could not start' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    suite = suites.parse(tomllib.loads(SUITE), "two.toml")
    run_dir = tmp_path / "run"
    summary = parallel.run_suite(suite, run_dir, 2, log=lambda _m: None, python=str(fake))
    assert summary.statuses == {"error": 2}
    for r in store.read_results(run_dir):
        assert "exited with code 3" in r.error and "worker could not start" in r.traceback
    assert not (run_dir / "claims").exists()


def test_jobs_options_are_checked(tmp_path, capsys, monkeypatch):
    suite = tmp_path / "two.toml"
    suite.write_text(SUITE)
    out = str(tmp_path / "run")
    assert cli.main(["run", "--suite", str(suite), "--out", out, "--jobs", "2",
                     "--executor", "ray"]) == 2  # fmt: skip
    assert "--jobs is for --executor local" in capsys.readouterr().err
    monkeypatch.setenv("RESDEPTH_JOBS", "many")
    assert cli.main(["run", "--suite", str(suite), "--out", out]) == 2
    assert "$RESDEPTH_JOBS must be a whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--suite", str(suite), "--jobs", "0"])
    bad = tmp_path / "bad.toml"
    bad.write_text(SUITE.replace('seeds = [0]', 'seeds = [0]\njobs = 0'))
    assert cli.main(["run", "--suite", str(bad), "--dry-run"]) == 2
    assert "jobs must be >= 1" in capsys.readouterr().err


def test_a_timing_suite_runs_one_cell_at_a_time():
    assert suites.load("perf").jobs == 1
    assert suites.load("quick").jobs is None
