"""The regression gate is as sharp as the differences it guards: per-cell tolerances are the 95%
intervals of the baseline's test-set noise, and a change that reverses a residual-vs-plain
difference whose interval excludes zero fails, while noise does not."""

import numpy as np
from fakes import cell_info

from results import check, noise
from results.metrics import Metric
from results.record import CellResult

N = 400


def _cell(residual: bool, correct: np.ndarray, depth: int = 3) -> CellResult:
    """A kws cell whose per-example outcomes on a 4-class test set are ``correct`` (bools)."""
    target = np.arange(N) % 4
    predicted = np.where(correct, target, (target + 1) % 4)
    kind = "res" if residual else "plain"
    info = cell_info(f"kws-x-tc-resnet8-d{depth}-{kind}-s0", residual=residual, depth=depth)
    acc = float(np.mean(correct))
    return CellResult(
        info,
        "ok",
        metrics={"accuracy": Metric.of("accuracy", acc), "params": Metric.of("params", 1000)},
        evaluation={"target": target.tolist(), "predicted": predicted.tolist(), "n_examples": N},
    )


def _outcomes(accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random(N) < accuracy


def _run(tmp_path, name, cells):
    from fakes import write_run

    return write_run(tmp_path / name, cells)


def test_noise_intervals_match_the_binomial_width():
    r = _cell(True, _outcomes(0.8, 1))
    got = noise.intervals(r)["accuracy"]
    p = r.metrics["accuracy"].value
    assert abs(got.halfwidth - 1.96 * np.sqrt(p * (1 - p) / N)) < 0.01
    assert "bootstrap over 400 examples" in got.method


def test_a_reversed_skip_gain_fails_and_noise_passes(tmp_path):
    res, plain = _outcomes(0.9, 1), _outcomes(0.7, 2)  # residual clearly better
    base_run = _run(tmp_path, "base", [_cell(True, res), _cell(False, plain)])
    baseline = check.make_baseline(base_run)
    (comp,) = [c for c in baseline["comparisons"] if c["metric"] == "accuracy"]
    assert comp["difference"] > comp["halfwidth"] > 0  # decisive: the CI excludes zero
    assert "paired bootstrap over 400 examples" in comp["method"]
    tol = baseline["cells"][baseline_cell := next(iter(baseline["cells"]))]["noise"]["accuracy"]
    assert 0.02 < tol["halfwidth"] < 0.08, (baseline_cell, tol)

    # an honest rerun: a few examples flip each way (noise) -> pass
    flip = np.zeros(N, bool)
    flip[:6] = True
    honest = _run(tmp_path, "honest", [_cell(True, res ^ flip), _cell(False, plain ^ flip)])
    rows = check.compare(baseline, check.store.read_results(honest))
    assert not any(r.failed for r in rows), check.format_table(rows)
    assert any("95% CI" in r.note for r in rows)

    # a planted change that makes the plain net the better one -> the comparison fails
    planted = _run(tmp_path, "planted", [_cell(True, _outcomes(0.78, 3)), _cell(False, res)])
    rows = check.compare(baseline, check.store.read_results(planted))
    failed = [r for r in rows if r.failed]
    assert any(r.metric == "Δ accuracy" and "SIGN REVERSED" in r.note for r in failed)


def test_an_undecided_comparison_is_listed_not_judged(tmp_path):
    a, b = _outcomes(0.8, 1), _outcomes(0.8, 2)
    baseline = check.make_baseline(_run(tmp_path, "base", [_cell(True, a), _cell(False, b)]))
    swapped = _run(tmp_path, "swap", [_cell(True, b), _cell(False, a)])
    rows = [r for r in check.compare(baseline, check.store.read_results(swapped))]
    delta = [r for r in rows if r.metric == "Δ accuracy"]
    assert delta and not delta[0].failed and "CI spans 0" in delta[0].note


def test_the_check_warns_when_package_versions_differ():
    old = {"environment": {"packages": {"keras": "3.5.0", "numpy": "2.0.0"}}}
    r = CellResult(
        cell_info("x"), "ok", environment={"packages": {"keras": "3.15.1", "numpy": "2.0.0"}}
    )
    (line,) = check.version_warnings(old, [r])
    assert "keras 3.15.1" in line and "3.5.0" in line
