"""Regression checks: a degraded result (accuracy drop, slowdown, changed depth, lost cell) fails,
an equal one passes, throughput is normalized by each run's median calibration peak, and the
committed baselines match their suites."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
from fakes import cell_info, metrics, with_metrics, without_metrics, write_run

from bench import cli, suite
from results import check
from results.metrics import Metric
from results.record import CellResult, Speed

ROOT = Path(__file__).resolve().parents[1]


def speed(peak: float) -> Speed:
    """A speed record of which the check reads only the calibration peak."""
    return Speed(
        peak_gflops=peak,
        flops_per_example=1e6,
        compile_seconds=1.0,
        step_seconds={"p10": 0.1, "p50": 0.1, "p90": 0.1},
        latency_ms={"p50": 4.0, "p90": 4.0},
        infer_samples_per_s=1000.0,
        utilization=0.1,
        data_wait_share=0.0,
        train_samples_per_s=500.0,
        steps=10,
        warmup_steps=2,
        backend="tensorflow",
        jit_compile=False,
    )


def cell(cell_id, acc=0.8, params=1000, speed_=500.0, peak=None) -> CellResult:
    return CellResult(
        cell=cell_info(cell_id),
        status="ok",
        environment={"backend": "tensorflow"},
        metrics=metrics(
            accuracy=acc,
            macro_f1=acc - 0.02,
            test_loss=0.5,
            params=params,
            train_samples_per_s=speed_,
            latency_p50_ms=4.0,
            train_seconds=12.0,
        ),
        speed=None if peak is None else speed(peak),
    )


BASE = [cell("a-d1-res"), cell("a-d2-res", acc=0.9, params=2000)]


@pytest.fixture
def baseline(tmp_path):
    return check.make_baseline(write_run(tmp_path / "base", BASE))


def changed(run: list[CellResult], i: int, **values: float) -> list[CellResult]:
    """``run`` with metrics of its ``i``-th cell set to ``values``."""
    return [with_metrics(r, **values) if j == i else r for j, r in enumerate(run)]


def verdicts(rows):
    return {(r.cell, r.metric): r.verdict for r in rows}


def test_baseline_holds_checked_metrics_with_tolerances(baseline):
    assert baseline["suite"] == "fake" and set(baseline["cells"]) == {"a-d1-res", "a-d2-res"}
    kept = baseline["cells"]["a-d1-res"]["metrics"]
    # test_loss has no tolerance and train_seconds is declared unchecked; speed is found by unit
    assert set(kept) == {"accuracy", "macro_f1", "params", "train_samples_per_s", "latency_p50_ms"}
    assert baseline["tolerances"]["params"] == {"kind": "exact", "value": 0.0}
    assert baseline["tolerances"]["latency_p50_ms"]["kind"] == "factor"


def test_an_equal_run_passes(baseline):
    rows = check.compare(baseline, BASE)
    assert rows and not any(r.failed for r in rows)
    assert set(verdicts(rows).values()) == {"ok"}
    assert check.verdict_line(rows).startswith("PASS")


def test_an_accuracy_drop_beyond_tolerance_fails_and_a_small_one_passes(baseline):
    run = changed(BASE, 0, accuracy=0.79)
    assert not any(r.failed for r in check.compare(baseline, run))
    rows = check.compare(baseline, changed(BASE, 0, accuracy=0.74))
    assert verdicts(rows)[("a-d1-res", "accuracy")] == "REGRESSED"
    assert verdicts(rows)[("a-d2-res", "accuracy")] == "ok"
    text = check.format_table(rows)
    first = text.splitlines()[2]  # failures first
    assert "a-d1-res" in first and "accuracy" in first and "-0.0600" in first
    assert "REGRESSED" in first


def test_direction_is_honoured_for_lower_is_better():
    tol = check.Tolerance("absolute", 0.03)
    assert check.judge(0.30, 0.40, False, tol) == "REGRESSED"  # WER up
    assert check.judge(0.30, 0.20, False, tol) == "better"  # WER down
    assert check.judge(0.30, 0.32, False, tol) == "ok"
    assert check.judge(0.80, float("nan"), True, tol) == "REGRESSED"


def test_a_changed_depth_fails_through_params(baseline):
    run = changed(BASE, 1, params=2001)
    assert verdicts(check.compare(baseline, run))[("a-d2-res", "params")] == "REGRESSED"


def test_a_slowdown_fails_and_noise_passes(baseline):
    noisy = changed(changed(BASE, 0, train_samples_per_s=500.0 / 1.5), 1, latency_p50_ms=6.0)
    assert not any(r.failed for r in check.compare(baseline, noisy))
    run = changed(BASE, 0, train_samples_per_s=500.0 / 4)  # a layer made 4x slower
    run = changed(run, 1, latency_p50_ms=4.0 * 4)
    rows = check.compare(baseline, run)
    v = verdicts(rows)
    assert v[("a-d1-res", "train_samples_per_s")] == "REGRESSED"
    assert v[("a-d2-res", "latency_p50_ms")] == "REGRESSED"
    row = next(r for r in rows if r.metric == "train_samples_per_s" and r.failed)
    assert "raw" in row.note  # no calibration in either run: said so
    assert "(-75%)" in check.format_table(rows)


def test_a_slowdown_of_every_cell_fails_over_the_suite(baseline):
    # each cell within its own tolerance, but the whole model 2.2x slower
    run = [with_metrics(r, train_samples_per_s=500.0 / 2.2) for r in BASE]
    rows = check.compare(baseline, run)
    assert verdicts(rows)[("a-d1-res", "train_samples_per_s")] == "ok"
    suite_row = next(r for r in rows if r.cell == "(suite)" and r.metric == "train_samples_per_s")
    assert suite_row.verdict == "REGRESSED" and "geometric mean over 2 cells" in suite_row.note
    assert suite_row.now == pytest.approx(500.0 / 2.2)
    # 1.6x, a margin over the 1.44x two runs of the same code measured on two machines of one
    # kind: passes
    run = [with_metrics(r, train_samples_per_s=500.0 / 1.6) for r in BASE]
    assert not any(r.failed for r in check.compare(baseline, run))
    # noise on one cell only: the suite's geometric mean stays within tolerance
    rows = check.compare(baseline, changed(BASE, 0, train_samples_per_s=500.0 / 2))
    assert not any(r.failed for r in rows)


def test_speed_is_normalized_by_the_calibration_peak(tmp_path):
    base = check.make_baseline(write_run(tmp_path / "b", [cell("x", speed_=600.0, peak=20.0)]))
    # the machine is 1.4x slower (calibration too): normalized, not a regression
    busy = [cell("x", speed_=600.0 / 1.4, peak=20.0 / 1.4)]
    rows = check.compare(base, busy)
    assert not any(r.failed for r in rows)
    row = next(r for r in rows if r.metric == "train_samples_per_s")
    assert row.now == pytest.approx(600.0) and "normalized" in row.note
    assert row.verdict == "ok"
    # same machine speed, the model 3x slower: a regression
    slow_model = [cell("x", speed_=200.0, peak=20.0)]
    assert verdicts(check.compare(base, slow_model))[("x", "train_samples_per_s")] == "REGRESSED"
    # ... and on a busier machine of the same kind too
    slow_model = [cell("x", speed_=200.0 / 1.4, peak=20.0 / 1.4)]
    assert verdicts(check.compare(base, slow_model))[("x", "train_samples_per_s")] == "REGRESSED"
    # latency is dispatch, not matmul: compared raw, whatever the peak
    lat = [with_metrics(cell("x", speed_=600.0, peak=16.0), latency_p50_ms=5.0)]
    rows = check.compare(base, lat)
    row = next(r for r in rows if r.metric == "latency_p50_ms")
    assert row.now == pytest.approx(5.0) and "raw" in row.note


def test_the_machine_is_the_median_peak_of_the_run_not_each_cells(tmp_path):
    cells = [cell(c, speed_=600.0, peak=20.0) for c in "xyz"]
    base = check.make_baseline(write_run(tmp_path / "b", cells))
    # one cell's calibration ran 1.6x low (a neighbour's burst) while its training did not:
    # rescaled by its own peak it would be "another machine"; the run's median says otherwise
    run = [cell("x", speed_=600.0, peak=20.0 / 1.6)]
    run += [cell(c, speed_=600.0, peak=20.0) for c in "yz"]
    rows = check.compare(base, run)
    speed = {r.cell: r for r in rows if r.metric == "train_samples_per_s"}
    assert {r.verdict for r in speed.values()} == {"ok"}
    assert speed["x"].now == pytest.approx(600.0)
    # a 1.6x faster calibration on every cell: another machine, every speed row a hint
    fast = [cell(c, speed_=100.0, peak=32.0) for c in "xyz"]
    rows = check.compare(base, fast)
    assert {r.verdict for r in rows if check.is_speed(r.unit)} == {"hint"}


def test_each_precision_is_rescaled_by_its_own_machine_peak(tmp_path):
    """A run mixing float32 and bfloat16 cells (``gpu-check``) has a machine peak per
    precision: a median over both would be a blend that rescales every cell by the wrong ratio.
    A precision with no cell finished in both runs is judged on another machine if another
    precision says so."""

    def mixed(cell_id, precision, peak, speed_):
        r = cell(cell_id, speed_=speed_, peak=peak)
        return dataclasses.replace(r, cell=dataclasses.replace(r.cell, precision=precision))

    f32 = [("f1", 20.0), ("f2", 20.0)]
    bf16 = [("b1", 80.0), ("b2", 80.0)]
    base = check.make_baseline(
        write_run(
            tmp_path / "b",
            [mixed(c, "float32", p, 600.0) for c, p in f32]
            + [mixed(c, "mixed_bfloat16", p, 600.0) for c, p in bf16],
        )
    )
    # the bfloat16 matmul (and its cells) ran at 0.7x, float32 unchanged
    run = [mixed(c, "float32", p, 600.0) for c, p in f32]
    run += [mixed(c, "mixed_bfloat16", 0.7 * p, 0.7 * 600.0) for c, p in bf16]
    speed = {r.cell: r for r in check.compare(base, run) if r.metric == "train_samples_per_s"}
    for c in ("f1", "f2", "b1", "b2"):
        assert speed[c].now == pytest.approx(600.0), (c, speed[c].note)
        assert speed[c].verdict == "ok"
    assert "56→80 GFLOP/s" in speed["b1"].note and "20→20 GFLOP/s" in speed["f1"].note
    # float32 on another machine (3x its peak); the bfloat16 cells failed in the baseline's
    # place, so their precision has no machine of its own: 10x slower is a hint, not a failure
    other = [mixed(c, "float32", 3 * p, 600.0) for c, p in f32]
    other += [mixed("b9", "mixed_bfloat16", 80.0, 60.0)]
    base_b9 = check.make_baseline(
        write_run(tmp_path / "b9", [*run[:2], mixed("b9", "mixed_bfloat16", 80.0, 600.0)])
    )
    base_b9["cells"]["b9"]["status"] = "error"
    rows = check.compare(base_b9, other)
    b9 = [r for r in rows if r.cell == "b9" and r.metric == "train_samples_per_s"]
    assert [r.verdict for r in b9] == ["hint"], b9


def test_speed_from_another_kind_of_machine_is_a_hint_that_never_fails(tmp_path):
    cells = [cell("x", speed_=600.0, peak=20.0), cell("y", speed_=600.0, peak=20.0)]
    base = check.make_baseline(write_run(tmp_path / "b", cells))
    # calibration 2.5x lower, the model 4x slower: rescaling across kinds is not trusted
    run = [cell(c, speed_=150.0, peak=8.0) for c in ("x", "y")]
    rows = check.compare(base, run)
    assert not any(r.failed for r in rows)
    speed = [r for r in rows if r.metric == "train_samples_per_s"]
    assert {r.verdict for r in speed} == {"hint"} and len(speed) == 3  # two cells and the suite
    assert all("another machine" in r.note for r in speed)
    line = check.verdict_line(rows)
    assert "speed row(s) from another machine or share of it shown as hints" in line
    # quality is still judged on any machine
    worse = [with_metrics(r, accuracy=0.1) for r in run]
    assert verdicts(check.compare(base, worse))[("x", "accuracy")] == "REGRESSED"


def test_a_missing_cell_or_metric_fails_and_a_new_cell_does_not(baseline):
    run = [without_metrics(BASE[0], "macro_f1"), cell("a-d3-res")]
    v = verdicts(check.compare(baseline, run))
    assert v[("a-d2-res", "(cell)")] == "MISSING"
    assert v[("a-d1-res", "macro_f1")] == "MISSING"
    assert v[("a-d3-res", "(cell)")] == "new"


def test_a_diverged_cell_fails_with_its_step(baseline):
    run = list(BASE)
    run[1] = CellResult(
        cell=BASE[1].cell,
        status="diverged",
        error="loss became non-finite at step 7 (epoch 1)",
        diverged_step=7,
    )
    rows = check.compare(baseline, run)
    bad = [r for r in rows if r.failed]
    assert len(bad) == 1 and bad[0].verdict == "FAILED" and "at step 7" in bad[0].note


def test_tolerances_are_validated():
    with pytest.raises(ValueError, match="kind"):
        check.Tolerance("percent", 1.0)
    with pytest.raises(ValueError, match=">= 1"):
        check.Tolerance("factor", 0.5)
    assert check.tolerance_for("std_si_map", "fraction").kind == "absolute"
    assert check.tolerance_for("infer_samples_per_s", "samples/s") == check.SPEED_TOLERANCE
    assert check.tolerance_for("test_loss", "nats") is None


def test_cli_baseline_then_check_pass_and_fail(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run", BASE)
    out = tmp_path / "baseline.json"
    assert cli.main(["baseline", str(run_dir), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["format"] == check.FORMAT
    assert cli.main(["check", str(run_dir), "--baseline", str(out)]) == 0
    assert "PASS" in capsys.readouterr().out

    worse_dir = write_run(tmp_path / "worse", changed(BASE, 0, accuracy=0.5))
    assert cli.main(["check", str(worse_dir), "--baseline", str(out)]) == 1
    text = capsys.readouterr().out
    for word in ("cell", "metric", "baseline", "now", "delta", "verdict", "REGRESSED", "FAIL"):
        assert word in text


def test_cli_names_an_unparsable_results_file(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run", BASE)
    out = tmp_path / "baseline.json"
    assert cli.main(["baseline", str(run_dir), "--out", str(out)]) == 0
    (run_dir / "cells" / "broken.json").write_text('{"status": "o')
    assert cli.main(["check", str(run_dir), "--baseline", str(out)]) == 2
    assert "broken.json" in capsys.readouterr().err
    (tmp_path / "notbaseline.json").write_text("{}")
    assert cli.main(["check", str(run_dir), "--baseline", str(tmp_path / "notbaseline.json")]) == 2
    assert "not a resdepth baseline" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["smoke", "quick"])
def test_committed_baselines_cover_their_suites(name):
    """A suite edit (new depth, renamed preset) must come with a regenerated baseline."""
    baseline = check.load_baseline(ROOT / "bench" / "baselines" / f"{name}.json")
    ids = {c.id for c in suite.load(name).cells()}
    assert set(baseline["cells"]) == ids, "regenerate: see README 'Regression checks'"
    for cell_id, entry in baseline["cells"].items():
        assert entry["status"] == "ok"
        headline = "wer" if cell_id.startswith("asr-") else "accuracy"
        assert {headline, "params", "train_samples_per_s"} <= set(entry["metrics"])


def _replay(baseline: dict, change: dict | None = None) -> list[CellResult]:
    """A run that reproduces the baseline's values, with ``change[cell][metric] = delta``
    added (typed cell results, as the harness writes them now)."""
    change = change or {}
    run = []
    for cell_id, entry in baseline["cells"].items():
        values = {n: Metric(**m) for n, m in entry["metrics"].items()}
        for name, delta in change.get(cell_id, {}).items():
            values[name] = Metric(**{**entry["metrics"][name], "value": values[name].value + delta})
        run.append(
            CellResult(
                cell=cell_info(cell_id, seed=entry.get("seed", 0)),
                status=entry["status"],
                metrics=values,
                speed=None if entry["peak_gflops"] is None else speed(entry["peak_gflops"]),
            )
        )
    return run


@pytest.mark.parametrize("name", ["smoke", "quick"])
def test_committed_baselines_pass_a_replay_and_fail_a_planted_drop(name):
    """The committed baseline's format is read, a run that reproduces it passes, and the same
    run with one cell's headline metric 0.5 worse fails on that cell (or its mean over seeds)."""
    baseline = check.load_baseline(ROOT / "bench" / "baselines" / f"{name}.json")
    rows = check.compare(baseline, _replay(baseline))
    assert rows and not any(r.failed for r in rows), check.format_table(rows, only_failed=True)
    victim = next(iter(baseline["cells"]))
    headline, worse = ("wer", +0.5) if victim.startswith("asr-") else ("accuracy", -0.5)
    rows = check.compare(baseline, _replay(baseline, {victim: {headline: worse}}))
    failed = [r for r in rows if r.failed]
    assert failed and all(r.metric == headline for r in failed), check.format_table(failed)
    assert all(r.cell.startswith(re.sub(r"-s\d+$", "", victim)) for r in failed)


def test_the_smoke_gate_takes_a_one_seed_sign_flip_as_a_hint():
    """The smoke baseline's only decisive comparison (residual − plain at 1 block, one seed) is
    the test set's interval alone: a change that flips its sign with each cell within its own
    tolerance passes, the flip shown as a hint. Before the 3-seed rule it failed the gate."""
    baseline = check.load_baseline(ROOT / "bench" / "baselines" / "smoke.json")
    res, plain = "kws-synth-words-tc-resnet8-d1-res-s0", "kws-synth-words-tc-resnet8-d1-plain-s0"
    (comp,) = [
        c for c in baseline["comparisons"] if c["residual"] == res and c["metric"] == "accuracy"
    ]
    assert comp["difference"] < -comp["halfwidth"] and not comp["pairs"]  # decisive, one seed
    run = _replay(baseline, {res: {"accuracy": +0.07}, plain: {"accuracy": -0.07}})
    rows = check.compare(baseline, run)
    (delta,) = [r for r in rows if r.metric == "Δ accuracy" and r.cell.startswith(res)]
    assert delta.now > 0 > delta.baseline and delta.verdict == "hint"
    assert not any(r.failed for r in rows), check.format_table(rows, only_failed=True)


def test_the_quick_gate_fails_a_three_seed_sign_flip():
    """The quick baseline's 16-block residual − plain is over 3 seeds: swapping the two kinds'
    accuracy on every seed fails as SIGN REVERSED (besides the cells' own rows)."""
    baseline = check.load_baseline(ROOT / "bench" / "baselines" / "quick.json")
    point = "kws-synth-words-tc-resnet8-d16"
    (comp,) = [
        c
        for c in baseline["comparisons"]
        if c["residual"] == f"{point}-res" and c["metric"] == "accuracy"
    ]
    assert len(comp["pairs"]) == 3 and comp["difference"] > comp["halfwidth"]
    change = {}
    for res_id, plain_id in comp["pairs"]:
        a = baseline["cells"][res_id]["metrics"]["accuracy"]["value"]
        b = baseline["cells"][plain_id]["metrics"]["accuracy"]["value"]
        change[res_id], change[plain_id] = {"accuracy": b - a}, {"accuracy": a - b}
    rows = check.compare(baseline, _replay(baseline, change))
    (delta,) = [r for r in rows if r.metric == "Δ accuracy" and r.cell.startswith(f"{point}-res")]
    assert delta.failed and "SIGN REVERSED" in delta.note


def test_a_run_on_other_threads_than_the_baseline_is_warned_about(tmp_path):
    base = check.make_baseline(write_run(tmp_path / "b", [cell("x")]))
    base["environment"] = {**base["environment"], "threads": 2}
    same = [dataclasses.replace(cell("x"), environment={"threads": 2})]
    other = [dataclasses.replace(cell("x"), environment={"threads": 1, "jobs": 2})]
    assert not [w for w in check.version_warnings(base, same) if "threads" in w]
    (warning,) = [w for w in check.version_warnings(base, other) if "threads" in w]
    assert "[1] in this run, 2 in the baseline" in warning


def test_latency_of_a_cell_beside_other_cells_is_a_hint(tmp_path):
    """Batch-1 latency waits on the neighbouring cell at --jobs 2 (one JAX smoke cell: 0.82 ms
    in the baseline, 2.18 ms on the same machine and code): shown, not judged; at --jobs 1 the
    same slowdown fails, and throughput is judged at either."""
    two = {"backend": "tensorflow", "jobs": 2}
    base = check.make_baseline(
        write_run(tmp_path / "b", [dataclasses.replace(cell("x"), environment=two)])
    )
    slow = with_metrics(cell("x"), latency_p50_ms=4.0 * 3)
    rows = check.compare(base, [dataclasses.replace(slow, environment=two)])
    (lat,) = [r for r in rows if r.metric == "latency_p50_ms"]
    assert lat.verdict == "hint" and "beside 1 other cell" in lat.note
    slower = with_metrics(slow, train_samples_per_s=500.0 / 3)
    rows = check.compare(base, [dataclasses.replace(slower, environment=two)])
    assert verdicts(rows)[("x", "train_samples_per_s")] == "REGRESSED"
    base["environment"] = {**base["environment"], "jobs": 1}
    alone = {"backend": "tensorflow", "jobs": 1}
    rows = check.compare(base, [dataclasses.replace(slow, environment=alone)])
    assert verdicts(rows)[("x", "latency_p50_ms")] == "REGRESSED"
