"""Comparisons paired by seed (``results.stats``), checked against hand-computed values."""

import math

import pytest
from fakes import cell_info, metrics

from results import noise, stats
from results.record import CellResult


def cell(depth, residual, seed, acc, block="post", **extra) -> CellResult:
    kind = ("res" if residual else "plain") + ("" if block == "post" else f"-{block}")
    return CellResult(
        cell=cell_info(
            f"kws-d{depth}-{kind}-s{seed}", depth=depth, residual=residual, seed=seed, block=block
        ),
        status="ok",
        metrics=metrics(accuracy=acc, **extra),
    )


def test_t_quantiles_match_the_table_and_fall_back_safely():
    assert stats.t95(1) == 12.706 and stats.t95(2) == 4.303 and stats.t95(30) == 2.042
    assert stats.t95(35) == stats.t95(30)  # between rows: the wider (smaller df) quantile
    assert stats.t95(1000) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError, match="df=0"):
        stats.t95(0)


def test_mean_interval_by_hand():
    est = stats.mean_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, half-width t(0.975, 2) * 1 / sqrt(3) = 4.303 / 1.7321 = 2.4843
    assert est.value == 2.0 and est.sd == pytest.approx(1.0) and est.n == 3
    assert est.halfwidth == pytest.approx(2.48434, abs=1e-4) and est.over_seeds
    one = stats.mean_interval([0.7])
    assert one.halfwidth is None and not one.over_seeds and not one.decisive
    with pytest.raises(ValueError):
        stats.mean_interval([])


def test_paired_difference_over_seeds_by_hand():
    res = {s: cell(3, True, s, a) for s, a in enumerate([0.80, 0.90, 0.85])}
    plain = {s: cell(3, False, s, a) for s, a in enumerate([0.70, 0.85, 0.75])}
    est = stats.paired_difference(res, plain, "accuracy")
    # per-seed differences 0.10, 0.05, 0.10: mean 0.08333, sd 0.028868,
    # half-width 4.303 * 0.028868 / sqrt(3) = 0.071721
    assert est.value == pytest.approx(0.083333, abs=1e-6)
    assert est.sd == pytest.approx(0.0288675, abs=1e-6)
    assert est.halfwidth == pytest.approx(0.071721, abs=1e-5)
    assert est.n == 3 and est.over_seeds and est.decisive
    assert "paired by seed" in est.method


def test_pairing_by_seed_differs_from_comparing_means():
    # residual is better by exactly 0.02 on every seed, while the seeds themselves spread widely:
    # paired, the difference is certain; unpaired it would be lost in the seed spread
    res = {s: cell(1, True, s, a + 0.02) for s, a in enumerate([0.5, 0.7, 0.9])}
    plain = {s: cell(1, False, s, a) for s, a in enumerate([0.5, 0.7, 0.9])}
    est = stats.paired_difference(res, plain, "accuracy")
    assert est.value == pytest.approx(0.02) and est.halfwidth == pytest.approx(0.0, abs=1e-9)


def test_only_shared_seeds_are_paired():
    res = {0: cell(1, True, 0, 0.8), 1: cell(1, True, 1, 0.9), 2: cell(1, True, 2, 0.7)}
    plain = {0: cell(1, False, 0, 0.7), 2: cell(1, False, 2, 0.6)}
    est = stats.paired_difference(res, plain, "accuracy")
    assert est.n == 2 and est.value == pytest.approx(0.1)
    assert stats.paired_difference(res, {}, "accuracy") is None


def test_one_seed_falls_back_to_the_per_example_bootstrap():
    target = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    res = cell(1, True, 0, 0.9)
    plain = cell(1, False, 0, 0.6)
    res = res.__class__(**{**res.__dict__, "evaluation": {"target": target,
                          "predicted": [0, 1, 2, 0, 1, 2, 0, 1, 2, 1]}})  # fmt: skip
    plain = plain.__class__(**{**plain.__dict__, "evaluation": {"target": target,
                            "predicted": [0, 1, 2, 0, 2, 0, 0, 1, 0, 1]}})  # fmt: skip
    est = stats.paired_difference({0: res}, {0: plain}, "accuracy")
    diff, interval = noise.difference(res, plain, "accuracy")
    assert est.value == diff and est.halfwidth == interval.halfwidth
    assert est.n == 1 and not est.over_seeds and "paired bootstrap" in est.method
    # without per-example outcomes or counts: the difference, without an interval
    bare = stats.paired_difference({0: cell(1, True, 0, 0.9)}, {0: cell(1, False, 0, 0.6)},
                                   "accuracy")  # fmt: skip
    assert bare.value == pytest.approx(0.3) and bare.halfwidth is None


def test_contrasts_cover_skips_depths_and_block_variants():
    cells = [
        cell(d, r, s, 0.5 + 0.1 * d * (1 if r else -1) + 0.01 * s)
        for d in (1, 2) for r in (True, False) for s in (0, 1, 2)
    ] + [cell(2, True, s, 0.75 + 0.01 * s, block="rezero") for s in (0, 1, 2)]  # fmt: skip
    found = stats.contrasts(cells, "accuracy")
    kinds = {(c.kind, c.a, c.b) for c in found}
    assert (stats.SKIPS, "residual, 2 blocks", "plain, 2 blocks") in kinds
    assert (stats.SKIPS, "residual, 1 block", "plain, 1 block") in kinds
    assert (stats.SKIPS, "residual-rezero, 2 blocks", "plain, 2 blocks") in kinds
    assert (stats.DEPTH, "residual, 2 blocks", "residual, 1 block") in kinds
    assert (stats.DEPTH, "plain, 2 blocks", "plain, 1 block") in kinds
    assert (stats.BLOCK, "residual-rezero, 2 blocks", "residual, 2 blocks") in kinds
    skips2 = next(c for c in found if c.kind == stats.SKIPS and c.a == "residual, 2 blocks")
    # residual 0.70 + 0.01 s, plain 0.30 + 0.01 s: +0.4 on every seed
    assert skips2.estimate.value == pytest.approx(0.4) and skips2.estimate.n == 3
    assert skips2.verdict == "a better" and skips2.better == 1
    plain_depth = next(c for c in found if c.kind == stats.DEPTH and c.a.startswith("plain"))
    assert plain_depth.estimate.value == pytest.approx(-0.1) and plain_depth.verdict == "b better"


def test_lower_is_better_flips_the_verdict():
    cells = [cell(1, r, s, 0.5, wer=(0.3 if r else 0.5) + 0.01 * s * s)
             for r in (True, False) for s in (0, 1, 2)]  # fmt: skip
    (c,) = [c for c in stats.contrasts(cells, "wer") if c.kind == stats.SKIPS]
    assert c.estimate.value == pytest.approx(-0.2) and c.better == -1 and c.verdict == "a better"


def test_failed_cells_are_not_paired():
    ok = [cell(1, r, s, 0.8) for r in (True, False) for s in (0, 1)]
    bad = cell(1, False, 2, math.nan)
    bad = bad.__class__(**{**bad.__dict__, "status": "diverged"})
    res2 = cell(1, True, 2, 0.9)
    (c,) = [c for c in stats.contrasts([*ok, bad, res2], "accuracy") if c.kind == stats.SKIPS]
    assert c.estimate.n == 2


def test_contrasts_run_shallow_to_deep_whatever_the_cell_file_order():
    """Cell files sort "d16" before "d4"; the answer table reads 1, 4, 16."""
    cells = [cell(d, r, s, 0.5 + 0.01 * s + (0.1 if r else 0)) for d in (16, 1, 4)
             for r in (True, False) for s in (0, 1)]  # fmt: skip
    skips = [c.depth for c in stats.contrasts(cells, "accuracy") if c.kind == stats.SKIPS]
    assert skips == [1, 4, 16]
