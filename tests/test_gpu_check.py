"""``python -m bench gpu-check`` on this CPU, at a small batch and the corpora's tiny profiles: the
command a GPU user runs first must keep working where the tests run. Its verdicts are then
checked on its own records, with one figure changed at a time (a slower bf16 cell, a step that
waits on data, a loss that rose, a failure)."""

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
        [sys.executable, "-m", "bench", "gpu-check", "--batch-size", "2", "--profile", "tiny",
         "--out", str(out), "-q", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
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
    assert len(results) == 16 and all(r.status == "ok" for r in results)
    assert {r.cell.preset for r in results} == {"res8", "quartznet-5x5"}
    assert (out / "report.html").is_file()
    lines = stdout.splitlines()
    assert any(ln.startswith("gpu-check: ") and "wall time" in ln for ln in lines)
    for dtype in ("float32", "bfloat16"):
        assert any(f"calibration peak, {dtype} matmul" in ln for ln in lines)
    for r in results:  # one line per cell, with its measured figures and its loss
        rate = f"{r.speed.train_samples_per_s:,.0f} samples/s"
        kind = "res" if r.cell.residual else "plain"
        model = f"{r.cell.preset} d{r.cell.depth} {kind} {r.cell.precision}"
        first, last, _ = gpucheck.loss_fell(r.timing.step_losses)
        loss = f"loss {first:.3g} -> {last:.3g}"
        assert any(ln.startswith("ok") and model in ln and rate in ln and loss in ln
                   for ln in lines), model  # fmt: skip
        assert len(r.timing.step_losses) == r.timing.steps
    for r in results:
        if r.cell.preset == "quartznet-5x5":  # CTC from a random start: falls at once
            assert gpucheck.loss_fell(r.timing.step_losses)[2], r.timing.step_losses
    for preset in ("res8", "quartznet-5x5"):
        compared = [ln for ln in lines if "mixed_bfloat16" in ln and f"float32 on {preset}" in ln]
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
        "mixed_bfloat16 slower than float32 on res8 d6 res (0.50x): casts, or convolutions "
        "without a fast bf16 kernel on this device? Keep float32 for it, or look at a profile"
    ]
    assert by_status["INPUT-BOUND"][0].startswith("res8 d6 res float32 waits on its input for 50%")
    assert by_status["FAILED"] == ["timing-kws-res8-d3-res-s0: error: out of memory"]
    untouched = gpucheck.verdicts(results.values())
    assert "FAILED" not in {v.status for v in untouched}  # (this CPU may itself say SLOW)


def test_quartznet_is_suspected_of_its_depthwise_convolutions_and_a_rising_loss_is_named(checked):
    out, _ = checked
    results = {r.cell.id: r for r in store.read_results(out)}
    cell = "timing-asr-ctc-quartznet-5x5-d5-res-s0"
    fp32, bf16 = results[cell], results[cell + "-bf16"]
    slow = _with_speed(bf16, train_samples_per_s=fp32.speed.train_samples_per_s / 4)
    steps = len(fp32.timing.step_losses)
    rising = dataclasses.replace(
        fp32, timing=dataclasses.replace(fp32.timing, step_losses=tuple(range(1, steps + 1)))
    )
    found = gpucheck.verdicts([slow, rising])
    assert [v.text for v in found if v.status == "SLOW"] == [
        "mixed_bfloat16 slower than float32 on quartznet-5x5 d5 res (0.25x): depthwise "
        "convolutions or casts? Keep float32 for it, or look at a profile"
    ]
    quarter = steps // 4
    first, last = (1 + quarter) / 2, steps - (quarter - 1) / 2
    assert [v.text for v in found if v.status == "NO-LEARNING"] == [
        f"quartznet-5x5 d5 res float32: the loss did not fall over {steps} steps "
        f"({first:.3g} -> {last:.3g}): the learning rate, the labels or the precision?"
    ]
    nan = dataclasses.replace(
        fp32, timing=dataclasses.replace(fp32.timing, step_losses=(3.0, 2.0, float("nan")))
    )
    assert "NO-LEARNING" in {v.status for v in gpucheck.verdicts([nan])}
    assert "NO-LEARNING" not in {v.status for v in gpucheck.verdicts([fp32])}


def test_the_check_runs_on_jax_in_a_child(tmp_path):
    _need_backend("jax")
    # The keyword cells only: XLA on this CPU compiles QuartzNet's step anew for each of its
    # six length buckets (10-14 s each) and runs it ~10x slower than TensorFlow (a 285 s cell).
    done = _gpu_check(tmp_path / "run", "--backend", "jax", "--experiment", "kws",
                      "--precision", "float32")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = store.read_results(tmp_path / "run")
    assert len(results) == 4 and {r.speed.backend for r in results} == {"jax"}
    assert {(r.cell.experiment, r.cell.precision) for r in results} == {("kws", "float32")}
    assert "backend jax" in done.stdout
