"""The GPU suite, its dry-run estimate, and the memory figures in the report and the check."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import metrics, with_cell
from test_reports import write_run
from test_speed_report import timing_cell

from bench import estimate, suite
from reports import html
from results import check

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_suite_covers_the_standard_corpora_in_mixed_precision():
    s = suite.load("gpu")
    cells = s.cells()
    assert s.seeds == (0, 1, 2)
    assert {c.precision for c in cells} == {"mixed_bfloat16"} and {c.device for c in cells} == {
        "gpu"
    }
    presets = {(c.experiment, c.preset) for c in cells}
    for exp in ("sc12", "sc35"):
        for preset in ("res8", "res15", "res26", "tc-resnet8", "tc-resnet14"):
            assert (exp, preset) in presets
    for preset in ("quartznet-5x5", "quartznet-10x5", "quartznet-15x5"):
        assert ("librispeech-100", preset) in presets
    assert {c.residual for c in cells} == {True, False}
    assert len(cells) == (10 + 10 + 6) * 3
    assert all(c.id.endswith("-gpu-bf16") for c in cells)
    assert suite.load("full").cells()[0].id.endswith("-s0")  # full stays as it was


def test_known_corpus_sizes_need_no_download():
    cells = suite.load("gpu").cells()
    corpora = {estimate.corpus_of(c).train_examples for c in cells}
    assert corpora == {84_843, 36_923, 28_539}


def test_estimate_is_flops_times_examples_times_epochs_over_the_assumed_rate():
    cell = next(c for c in suite.load("gpu").cells() if c.preset == "tc-resnet8")
    e = estimate.estimate(cell, peak_tflops=100.0, utilization=0.5)
    expected = 3 * e.flops_per_example * 36_923 * cell.train.epochs / (100e12 * 0.5) / 3600
    assert e.hours == pytest.approx(expected)
    two = estimate.estimate(dataclasses.replace(cell, replicas=2), 100.0, 0.5)
    assert two.hours == pytest.approx(expected / 2) and two.memory_gb < e.memory_gb
    assert e.params > 60_000 and e.memory_gb > e.params * 16 / 1e9


def test_the_estimate_builds_the_head_each_label_set_trains():
    """Speech Commands' 12- and 35-label cells differ only in the classifier head: the estimate
    counts 12 and 35 outputs (it gave both 35), matching the models the cells build."""
    import models

    cells = {c.experiment: c for c in suite.load("gpu").cells() if c.preset == "res8"}
    twelve, thirty_five = (estimate.estimate(cells[e], 100.0, 0.5) for e in ("sc12", "sc35"))
    for e, classes in ((twelve, 12), (thirty_five, 35)):
        built = models.build("res8", num_classes=classes)
        assert e.params == sum(int(np.prod(w.shape)) for w in built.trainable_weights)
    asr = next(c for c in suite.load("gpu").cells() if c.task == "asr")
    assert estimate.corpus_of(asr).classes == 29


@pytest.mark.slow
def test_dry_run_prints_every_cell_with_hours_memory_and_a_total():
    out = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--suite", "gpu", "--dry-run",
         "--assume-peak-tflops", "400", "--assume-memory-gb", "141"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("suite gpu: 78 cells")
    assert any("400 TFLOP/s peak x 15% assumed utilization" in ln for ln in lines[1:8])
    assert any(ln.startswith("  experiment ") and "epochs=" in ln for ln in lines)  # the budget
    rows = [ln for ln in lines if ln.startswith("  asr-") or ln.startswith("  kws-")]
    assert len(rows) == 78
    assert re.match(r"total: 78 cells, [\d.]+ device-hours estimated; every cell fits", lines[-1])


def _with_memory(r, rss, device=None, precision="float32"):
    r = with_cell(r, precision=precision)
    sp = dataclasses.replace(
        r.speed, device="cpu", device_count=1, precision=precision, host_peak_rss_bytes=rss,
        device_peak_bytes=device,
    )  # fmt: skip
    extra = {"host_peak_rss_bytes": rss, "accuracy": 0.9}
    if device is not None:
        extra["device_peak_bytes"] = device
    return dataclasses.replace(r, speed=sp, metrics={**r.metrics, **metrics(**extra)})


def test_speed_section_shows_memory_and_lines_up_precisions(tmp_path):
    results = [
        _with_memory(timing_cell("tensorflow", False, d, True), rss=(900 + d) * 2**20,
                     precision=p)
        for d in (1, 2)
        for p in ("float32", "mixed_bfloat16")
    ]  # fmt: skip
    results = [dataclasses.replace(r, cell=dataclasses.replace(r.cell, id=f"{r.cell.id}-{i}"))
               for i, r in enumerate(results)]  # fmt: skip
    text = html.write_report(write_run(tmp_path, results)).read_text()
    assert "host peak RSS (MiB)" in text and "device peak (MiB)" in text
    assert "901" in text and "902" in text
    assert "Memory: peak host RSS per cell 901-902 MiB" in text
    assert "no device memory figure (cells ran on the CPU)" in text
    assert "mixed_bfloat16 samples/s" in text and "float32 acc/WER" in text


def test_check_judges_memory_by_a_factor_without_peak_rescaling(tmp_path):
    base = _with_memory(timing_cell("tensorflow", False, 1, True), rss=1e9, device=2e9)
    baseline = check.make_baseline(write_run(tmp_path / "a", [base]))
    assert baseline["tolerances"]["host_peak_rss_bytes"] == {"kind": "factor", "value": 1.5}
    fatter = _with_memory(base, rss=1.6e9, device=2.1e9)
    fatter = dataclasses.replace(fatter, speed=dataclasses.replace(fatter.speed, peak_gflops=1.0))
    rows = {r.metric: r for r in check.compare(baseline, [fatter])}
    assert rows["host_peak_rss_bytes"].verdict == "REGRESSED"
    assert rows["host_peak_rss_bytes"].now == 1.6e9  # not rescaled by the calibration peak
    assert rows["device_peak_bytes"].verdict == "ok"
