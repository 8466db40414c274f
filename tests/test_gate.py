"""The regression gate is as sharp as the differences it guards and no sharper: per-cell
tolerances are the 95% intervals of the baseline's test-set noise; a change that reverses a
residual-vs-plain difference found over at least 3 seeds, its interval excluding zero, fails,
while noise does not, and a one- or two-seed comparison (no training variance in its interval)
is a hint that never fails."""

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

    # a planted change that makes the plain net the better one: with one seed the interval is
    # the test set's alone, so the reversal is shown as a hint and fails nothing by itself
    planted = _run(tmp_path, "planted", [_cell(True, _outcomes(0.78, 3)), _cell(False, res)])
    rows = check.compare(baseline, check.store.read_results(planted))
    (delta,) = [r for r in rows if r.metric == "Δ accuracy"]
    assert delta.verdict == "hint" and not delta.failed, delta
    assert "sign reversed; 1 seed, below 3: not judged" in delta.note
    assert "hints" in check.verdict_line([delta])


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


# ---- several seeds: means over seeds, residual − plain paired by seed --------------------------


def _seeded(residual: bool, seed: int, acc: float, depth: int = 3) -> CellResult:
    kind = "res" if residual else "plain"
    info = cell_info(
        f"kws-x-tc-resnet8-d{depth}-{kind}-s{seed}", residual=residual, depth=depth, seed=seed
    )
    return CellResult(
        info,
        "ok",
        metrics={"accuracy": Metric.of("accuracy", acc), "params": Metric.of("params", 1000)},
    )


RES = [0.80, 0.81, 0.82]  # mean 0.81, sd 0.01: t half-width 4.303 * 0.01 / sqrt(3) = 0.02484
PLAIN = [0.70, 0.72, 0.71]


def _seeded_run(tmp_path, name, res=RES, plain=PLAIN):
    cells = [_seeded(True, s, a) for s, a in enumerate(res)]
    cells += [_seeded(False, s, a) for s, a in enumerate(plain)]
    return check.store.read_results(_run(tmp_path, name, cells))


def test_a_baseline_with_seeds_is_checked_by_means_over_seeds(tmp_path):
    baseline = check.make_baseline(_base(tmp_path))
    entry = baseline["cells"]["kws-x-tc-resnet8-d3-res-s1"]
    assert entry["point"] == "kws-x-tc-resnet8-d3-res" and entry["seed"] == 1
    rows = check.compare(baseline, _seeded_run(tmp_path, "same"))
    assert not any(r.failed for r in rows), check.format_table(rows)
    means = {r.cell: r for r in rows if r.scope == "mean"}
    mean = means["kws-x-tc-resnet8-d3-res (mean of seeds 0, 1, 2)"]
    assert mean.metric == "accuracy" and abs(mean.baseline - 0.81) < 1e-9
    assert "±0.0248 (95% t-interval of the baseline's mean over 3 seeds" in mean.note
    # accuracy is judged once per point, params still cell by cell
    per_cell = {(r.cell, r.metric) for r in rows if r.scope == "cell"}
    assert ("kws-x-tc-resnet8-d3-res-s0", "accuracy") not in per_cell
    assert ("kws-x-tc-resnet8-d3-res-s0", "params") in per_cell
    assert "PASS" in check.verdict_line(rows) and "over 6 cells" in check.verdict_line(rows)


def _base(tmp_path):
    cells = [_seeded(True, s, a) for s, a in enumerate(RES)]
    cells += [_seeded(False, s, a) for s, a in enumerate(PLAIN)]
    return _run(tmp_path, "base", cells)


def test_the_mean_catches_a_drop_that_no_single_cell_shows_and_forgives_one_bad_seed(tmp_path):
    baseline = check.make_baseline(_base(tmp_path))
    # every seed 0.03 worse: each cell within the old ±0.03, the mean beyond its ±0.0248
    worse = _seeded_run(tmp_path, "worse", res=[a - 0.03 for a in RES])
    rows = check.compare(baseline, worse)
    (bad,) = [r for r in rows if r.failed]
    assert bad.scope == "mean" and bad.verdict == "REGRESSED"
    assert "1 mean(s) over seeds" in check.verdict_line(rows)
    # one seed 0.05 worse, the others as before: the mean moves 0.0167, within its interval
    one = _seeded_run(tmp_path, "one", res=[RES[0] - 0.05, *RES[1:]])
    assert not any(r.failed for r in check.compare(baseline, one))


def test_residual_minus_plain_is_paired_by_seed_and_its_sign_guarded(tmp_path):
    baseline = check.make_baseline(_base(tmp_path))
    (comp,) = [c for c in baseline["comparisons"] if c["metric"] == "accuracy"]
    # per-seed differences 0.10, 0.09, 0.11: mean 0.10, sd 0.01, half-width 0.02484
    assert abs(comp["difference"] - 0.10) < 1e-9 and abs(comp["halfwidth"] - 0.024843) < 1e-5
    assert comp["method"] == "paired by seed, t-interval over 3" and len(comp["pairs"]) == 3
    reversed_ = _seeded_run(tmp_path, "rev", res=PLAIN, plain=RES)
    rows = check.compare(baseline, reversed_)
    delta = [r for r in rows if r.metric == "Δ accuracy"]
    assert len(delta) == 1 and delta[0].failed and "SIGN REVERSED" in delta[0].note
    assert delta[0].cell == "kws-x-tc-resnet8-d3-res − plain (mean of seeds)"
    assert abs(delta[0].now + 0.10) < 1e-9 and "now over 3 seeds" in delta[0].note


def test_two_seeds_are_a_hint_and_three_are_judged(tmp_path):
    """The rule counts the seed pairs behind the baseline's interval: below MIN_SEEDS a
    reversal is listed, from MIN_SEEDS on it fails."""
    two = [_seeded(True, s, a) for s, a in enumerate(RES[:2])]
    two += [_seeded(False, s, a) for s, a in enumerate(PLAIN[:2])]
    baseline = check.make_baseline(_run(tmp_path, "base2", two))
    (comp,) = [c for c in baseline["comparisons"] if c["metric"] == "accuracy"]
    assert len(comp["pairs"]) == 2 and comp["difference"] > comp["halfwidth"]  # decisive
    flipped = [_seeded(True, s, a) for s, a in enumerate(PLAIN[:2])]
    flipped += [_seeded(False, s, a) for s, a in enumerate(RES[:2])]
    rows = check.compare(baseline, check.store.read_results(_run(tmp_path, "flip2", flipped)))
    (delta,) = [r for r in rows if r.metric == "Δ accuracy"]
    assert delta.verdict == "hint" and "2 seeds, below 3" in delta.note
    # the same reversal against a 3-seed baseline fails
    baseline3 = check.make_baseline(_base(tmp_path))
    rows = check.compare(baseline3, _seeded_run(tmp_path, "flip3", res=PLAIN, plain=RES))
    assert [r.verdict for r in rows if r.metric == "Δ accuracy"] == ["REGRESSED"]
    assert check.MIN_SEEDS == 3 and "at least 3 seeds" in check.SIGN_RULE


def test_an_older_baseline_without_points_is_grouped_by_the_run(tmp_path):
    baseline = check.make_baseline(_base(tmp_path))
    for entry in baseline["cells"].values():
        del entry["point"], entry["seed"]
    worse = _seeded_run(tmp_path, "worse", res=[a - 0.03 for a in RES])
    assert [r.scope for r in check.compare(baseline, worse) if r.failed] == ["mean"]


def test_three_seeds_that_happened_to_agree_are_judged_with_the_spread_pooled_over_points(
    tmp_path,
):
    """The d3-res seeds agree to 0.001, the other points' seeds spread 0.03: its mean is judged
    with the seed spread pooled over every point (t(6) * 0.0245 / sqrt(3) = 0.0346), not its
    own ±0.0025 nor the test-set floor, so a rerun 0.025 lower passes and 0.05 lower fails."""
    agree, spread = [0.800, 0.801, 0.802], [0.70, 0.73, 0.76]

    def run(name, shift):
        cells = [_seeded(True, s, a + shift) for s, a in enumerate(agree)]
        cells += [_seeded(False, s, a) for s, a in enumerate(spread)]
        cells += [_seeded(True, s, a, depth=6) for s, a in enumerate(spread)]
        return _run(tmp_path, name, cells)

    baseline = check.make_baseline(run("base", 0.0))
    rows = check.compare(baseline, check.store.read_results(run("small", -0.025)))
    (mean,) = [r for r in rows if r.cell.startswith("kws-x-tc-resnet8-d3-res (mean")]
    assert not mean.failed, check.format_table(rows)
    assert "±0.0346" in mean.note and "seed spread pooled over points (6 df)" in mean.note
    rows = check.compare(baseline, check.store.read_results(run("large", -0.05)))
    (mean,) = [r for r in rows if r.cell.startswith("kws-x-tc-resnet8-d3-res (mean")]
    assert mean.failed and mean.verdict == "REGRESSED"
