"""``python -m bench gpu-check`` on this CPU, at a small batch: the command a GPU user runs
first must keep working where the tests run. Its verdicts are then checked on its own records,
with one figure changed at a time (a slower bf16 cell, a step that waits on data, a failure)."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpucheck
from results import store
from tests.test_timing import _need_backend

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _gpu_check(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "bench", "gpu-check", "--batch-size", "8", "--out", str(out),
         "-q", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "run"
    done = _gpu_check(out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


def test_the_check_times_every_cell_and_prints_a_verdict_per_check(checked):
    out, stdout = checked
    results = store.read_results(out)
    assert len(results) == 8 and all(r.status == "ok" for r in results)
    assert (out / "report.html").is_file()
    lines = stdout.splitlines()
    assert any(ln.startswith("gpu-check: ") and "wall time" in ln for ln in lines)
    for dtype in ("float32", "bfloat16"):
        assert any(f"calibration peak, {dtype} matmul" in ln for ln in lines)
    for r in results:  # one line per cell, with its measured figures
        rate = f"{r.speed.train_samples_per_s:,.0f} samples/s"
        model = f"res8 d{r.cell.depth} {'res' if r.cell.residual else 'plain'} {r.cell.precision}"
        assert any(ln.startswith("ok") and model in ln and rate in ln for ln in lines), model
    compared = [ln for ln in lines if "mixed_bfloat16" in ln and "float32 on res8" in ln]
    assert len(compared) == 4  # both precisions of each of the four nets


def _with_speed(r, **changes):
    return dataclasses.replace(r, speed=dataclasses.replace(r.speed, **changes))


def test_a_slower_bf16_cell_an_input_bound_one_and_a_failure_are_named(checked):
    out, _ = checked
    results = {r.cell.id: r for r in store.read_results(out)}
    fp32, bf16 = results["timing-kws-res8-d6-res-s0"], results["timing-kws-res8-d6-res-s0-bf16"]
    slow = _with_speed(bf16, train_samples_per_s=fp32.speed.train_samples_per_s / 2)
    waiting = _with_speed(fp32, data_wait_share=0.5)
    failed = dataclasses.replace(results["timing-kws-res8-d3-res-s0"], status="error",
                                 error="out of memory")  # fmt: skip
    found = gpucheck.verdicts([slow, waiting, failed])
    by_status = {}
    for v in found:
        by_status.setdefault(v.status, []).append(v.text)
    assert by_status["SLOW"] == [
        "mixed_bfloat16 slower than float32 on res8 d6 res (0.50x): depthwise convolutions or "
        "casts? Keep float32 for it, or look at a profile"
    ]
    assert by_status["INPUT-BOUND"][0].startswith("res8 d6 res float32 waits on its input for 50%")
    assert by_status["FAILED"] == ["timing-kws-res8-d3-res-s0: error: out of memory"]
    untouched = gpucheck.verdicts(results.values())
    assert "FAILED" not in {v.status for v in untouched}  # (this CPU may itself say SLOW)


def test_the_check_runs_on_jax_in_a_child(tmp_path):
    _need_backend("jax")
    done = _gpu_check(tmp_path / "run", "--backend", "jax")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = store.read_results(tmp_path / "run")
    assert len(results) == 8 and {r.speed.backend for r in results} == {"jax"}
    assert "backend jax" in done.stdout
