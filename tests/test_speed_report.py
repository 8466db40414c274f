"""The report's speed section from synthetic timing results: peak, backends side by side, the
fastest named, the data-wait target, the Pareto front."""

import dataclasses
import re

import pandas as pd
from fakes import metrics, with_cell
from test_reports import base_result, write_run

from reports import html
from reports import speed as rs
from results import store
from results.record import Speed

# (backend, jit_compile) -> training samples/s of tc-resnet8 at depth 1; jax is the fastest.
RATES = {("tensorflow", False): 300.0, ("tensorflow", True): 200.0, ("jax", True): 450.0}


def timing_cell(backend, jit, depth, residual, wait=0.01):
    suffix = {"tensorflow": "tf"}.get(backend, backend) + (
        ("-xla" if jit else "-noxla") if backend == "tensorflow" else ""
    )
    cell_id = f"timing-perf-tc-resnet8-d{depth}-{'res' if residual else 'plain'}-s0-{suffix}"
    r = base_result(cell_id, "tc-resnet8", depth, residual, 0)
    r = with_cell(r, task="timing", experiment="perf", backend=backend, jit_compile=jit)
    rate = RATES[(backend, jit)] / depth
    speed = Speed(
        peak_gflops=60.0 if backend == "tensorflow" else 70.0,
        flops_per_example=6.5e6 * depth,
        compile_seconds=3.0,
        step_seconds={"p10": 0.9 * 64 / rate, "p50": 64 / rate, "p90": 1.2 * 64 / rate},
        latency_ms={"p50": 2.0 * depth, "p90": 2.5 * depth},
        infer_samples_per_s=10 * rate,
        utilization=0.1,
        data_wait_share=wait,
        train_samples_per_s=rate,
        steps=20,
        warmup_steps=3,
        backend=backend,
        jit_compile=jit,
    )
    return dataclasses.replace(
        r,
        speed=speed,
        deterministic=not (backend == "tensorflow" and jit),
        metrics=metrics(train_samples_per_s=rate, params=60000.0 * depth),
    )


def test_speed_section_puts_backends_side_by_side_and_names_the_fastest(tmp_path):
    results = [
        timing_cell(b, j, d, res, wait=0.2 if (b, d, res) == ("jax", 2, False) else 0.01)
        for (b, j) in RATES
        for d in (1, 2)
        for res in (True, False)
    ]
    run_dir = write_run(tmp_path, results)
    text = html.write_report(run_dir).read_text()
    assert 'id="speed"' in text
    assert "peak GFLOP/s (best)" in text and "60.0" in text and "70.0" in text
    for name in ("tensorflow (samples/s)", "tensorflow+xla (samples/s)", "jax (samples/s)"):
        assert name in text
    rows = re.findall(r"<tr><td>tc-resnet8</td>.*?</tr>", text, flags=re.S)
    assert len(rows) == 4 and all(row.endswith("<td>jax</td></tr>") for row in rows)
    assert "Over target: timing-perf-tc-resnet8-d2-plain-s0-jax." in text
    assert "Not deterministic: 4 cell(s)" in text and "d1-res-s0-tf-xla" in text
    assert 'id="timing"' not in text  # timing cells have no task section of their own


def test_pareto_front_keeps_only_undominated_points():
    pts = pd.DataFrame(
        {"lat": [1.0, 2.0, 3.0, 4.0, 2.5], "acc": [0.5, 0.7, 0.6, 0.9, 0.8]}, index=list("abcde")
    )
    assert list(rs.pareto_front(pts, "lat", "acc", True).index) == ["a", "b", "e", "d"]
    wer = pts.assign(acc=1 - pts["acc"])
    assert list(rs.pareto_front(wer, "lat", "acc", False).index) == ["a", "b", "e", "d"]


def test_no_speed_records_no_section(tmp_path):
    r = dataclasses.replace(timing_cell("tensorflow", False, 1, True), speed=None)
    run_dir = write_run(tmp_path, [r])
    assert rs.section(html.Context.load(run_dir)) is None
    assert store.read_results(run_dir)
