"""Comparisons between model points, paired by seed, with 95% intervals: the report's evidence.

A *model point* is a cell's identity without its seed (``point_key``). A comparison ``a − b`` of
one metric between two points (residual vs plain at a depth, one depth vs the previous one,
one block variant vs another) pairs the cells by seed: the difference is taken seed by seed and
averaged, and its 95% interval is Student's t over those per-seed differences (``t95``: a
table, no SciPy). With one shared seed there is no spread over seeds to measure; the interval is
then the per-example paired bootstrap on the test set (``results.noise.difference``), which
says how much the test set's draw alone could move the difference, not how much retraining
could: a hint, not a finding (``Estimate.over_seeds`` is False).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence

from results import noise
from results.record import CellResult

# Two-sided 95% quantiles of Student's t by degrees of freedom (Abramowitz & Stegun table 26.10).
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
    120: 1.980,
}  # fmt: skip


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (>= 1).

    Between tabulated values the next smaller df's quantile is taken (a slightly wider, safe
    interval); beyond 120 the normal quantile.
    """
    if df < 1:
        raise ValueError(f"t95 needs df >= 1. Received: df={df}")
    if df > 120:
        return noise.Z95
    return _T95[max(k for k in _T95 if k <= df)]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A value with its 95% half-width: a mean over seeds, or one seed's bootstrap.

    ``halfwidth`` is None when there is nothing to estimate it from. ``over_seeds`` tells a
    t-interval over ``n`` seeds (a finding) from a test-set interval of one seed (a hint).
    """

    value: float
    halfwidth: float | None
    n: int
    method: str
    over_seeds: bool
    sd: float | None = None  # the per-seed values' standard deviation (n >= 2)

    @property
    def low(self) -> float | None:
        return None if self.halfwidth is None else self.value - self.halfwidth

    @property
    def high(self) -> float | None:
        return None if self.halfwidth is None else self.value + self.halfwidth

    @property
    def decisive(self) -> bool:
        """The interval excludes zero."""
        return self.halfwidth is not None and abs(self.value) > self.halfwidth


def mean_interval(values: Sequence[float]) -> Estimate:
    """Mean of ``values`` and its 95% t half-width (None for a single value).

    Raises:
        ValueError: ``values`` is empty.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_interval needs at least one value")
    n = len(values)
    mean = statistics.fmean(values)
    if n == 1:
        return Estimate(mean, None, 1, "one seed", over_seeds=False)
    sd = statistics.stdev(values)
    half = t95(n - 1) * sd / math.sqrt(n)
    return Estimate(mean, half, n, f"t-interval over {n} seeds", over_seeds=True, sd=sd)


# ---- model points ---------------------------------------------------------------------------


def depth_of(r: CellResult) -> int | None:
    """Depth in blocks: the built model's, else the requested one."""
    return r.model.depth if r.model else r.cell.depth


def point_key(r: CellResult, *, without: Iterable[str] = ()) -> tuple:
    """What identifies ``r``'s model point: its cell minus the seed (and minus ``without``)."""
    c = r.cell
    fields = {
        "experiment": c.experiment,
        "task": c.task,
        "dataset": c.dataset,
        "preset": c.preset,
        "width": c.width,
        "depth": depth_of(r),
        "residual": c.residual,
        "block": c.block,
        "backend": c.backend,
        "jit_compile": c.jit_compile,
        "device": c.device,
        "precision": c.precision,
        "replicas": c.replicas,
    }
    skip = set(without)
    return tuple((k, v) for k, v in fields.items() if k not in skip)


def by_point(results: Iterable[CellResult]) -> dict[tuple, dict[int, CellResult]]:
    """ok cells grouped by model point, then by seed (insertion order kept)."""
    out: dict[tuple, dict[int, CellResult]] = {}
    for r in results:
        if r.ok:
            out.setdefault(point_key(r), {})[r.cell.seed] = r
    return out


def point_mean(cells: dict[int, CellResult], metric: str) -> Estimate | None:
    """Mean of ``metric`` over a point's seeds with its t-interval, or None if none has it."""
    values = [_value(r, metric) for r in cells.values()]
    values = [v for v in values if v is not None]
    return mean_interval(values) if values else None


def paired_difference(
    a: dict[int, CellResult], b: dict[int, CellResult], metric: str
) -> Estimate | None:
    """``a − b`` of ``metric``, paired by seed: mean and 95% interval of the per-seed differences.

    Two or more shared seeds: a t-interval over them. One: the per-example paired bootstrap on
    that seed's test set (``results.noise.difference``; halfwidth None when the cells keep no
    per-example outcomes or counts). None when no seed has the metric in both.
    """
    seeds = [s for s in a if s in b and _value(a[s], metric) is not None]
    seeds = [s for s in seeds if _value(b[s], metric) is not None]
    if not seeds:
        return None
    if len(seeds) >= 2:
        est = mean_interval([_value(a[s], metric) - _value(b[s], metric) for s in seeds])
        return dataclasses.replace(est, method=f"paired by seed, t-interval over {len(seeds)}")
    s = seeds[0]
    diff = _value(a[s], metric) - _value(b[s], metric)
    found = noise.difference(a[s], b[s], metric)
    if found is None:
        return Estimate(diff, None, 1, "one seed, no test-set interval", over_seeds=False)
    return Estimate(found[0], found[1].halfwidth, 1, f"one seed, {found[1].method}", False)


def _value(r: CellResult, metric: str) -> float | None:
    v = r.value(metric)
    return float(v) if v is not None and math.isfinite(v) else None


# ---- the comparisons the report makes --------------------------------------------------------

SKIPS = "residual − plain"
DEPTH = "depth vs depth"
BLOCK = "block vs block"


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One comparison ``a − b`` of ``metric`` between two model points.

    ``kind`` is ``SKIPS`` (same point but the skips), ``DEPTH`` (same kind, next depth minus
    this one) or ``BLOCK`` (a block variant minus the post-activation block, same skips).
    ``better`` is +1 when a positive difference favours ``a`` (higher is better), -1 when it
    favours ``b``, 0 when the metric has no direction.
    """

    kind: str
    task: str
    experiment: str
    preset: str
    width: float | None
    metric: str
    a: str  # e.g. "residual, 3 blocks"
    b: str
    depth: int | None  # the depth of ``a``
    estimate: Estimate
    better: int
    a_ids: tuple[str, ...] = ()
    b_ids: tuple[str, ...] = ()
    a_mean: Estimate | None = None  # each side's own mean over its seeds (spread in ``sd``)
    b_mean: Estimate | None = None

    @property
    def verdict(self) -> str:
        """``a better``, ``b better`` or ``no detectable difference`` (or ``no interval``)."""
        est = self.estimate
        if est.halfwidth is None:
            return "no interval"
        if not est.decisive or self.better == 0:
            return "no detectable difference"
        return "a better" if est.value * self.better > 0 else "b better"


def _direction(cells: Iterable[CellResult], metric: str) -> int:
    for r in cells:
        m = r.metrics.get(metric)
        if m is not None and m.higher_is_better is not None:
            return 1 if m.higher_is_better else -1
    return 0


def _label(key: dict) -> str:
    kind = ("residual" if key["residual"] else "plain") + (
        "" if key["block"] == "post" else f"-{key['block']}"
    )
    return f"{kind}, {key['depth']} block{'s' if key['depth'] != 1 else ''}"


def contrasts(results: Iterable[CellResult], metric: str) -> list[Contrast]:
    """Every residual − plain, depth − previous depth and block-variant − post comparison of
    ``metric`` that the ok cells allow, each paired by seed."""
    points = by_point(results)
    keyed = {k: (dict(k), cells) for k, cells in points.items()}
    out = []

    def add(kind, ka, kb):
        (a, ca), (b, cb) = keyed[ka], keyed[kb]
        shared = [s for s in ca if s in cb]  # each side's mean over the seeds both have
        ca, cb = {s: ca[s] for s in shared}, {s: cb[s] for s in shared}
        est = paired_difference(ca, cb, metric)
        if est is None:
            return
        out.append(
            Contrast(
                kind, a["task"], a["experiment"], a["preset"], a["width"], metric,
                _label(a), _label(b), a["depth"], est,
                _direction([*ca.values(), *cb.values()], metric),
                tuple(r.id for r in ca.values()), tuple(r.id for r in cb.values()),
                point_mean(ca, metric), point_mean(cb, metric),
            )
        )  # fmt: skip

    def swap(key: tuple, **changes) -> tuple:
        return tuple((k, changes.get(k, v)) for k, v in key)

    for k, (d, _) in keyed.items():
        if d["residual"]:
            plain = swap(k, residual=False)
            if plain in keyed:
                add(SKIPS, k, plain)
            elif d["block"] != "post" and swap(k, residual=False, block="post") in keyed:
                add(SKIPS, k, swap(k, residual=False, block="post"))
        if d["block"] != "post" and swap(k, block="post") in keyed:
            add(BLOCK, k, swap(k, block="post"))
    # depth vs depth: each depth against the next shallower one of the same kind
    ladders: dict[tuple, list[tuple]] = {}
    for k in keyed:
        ladders.setdefault(swap(k, depth=None), []).append(k)
    for ladder in ladders.values():
        ladder = sorted((k for k in ladder if dict(k)["depth"] is not None),
                        key=lambda k: dict(k)["depth"])  # fmt: skip
        for shallow, deep in zip(ladder, ladder[1:], strict=False):
            add(DEPTH, deep, shallow)
    # Shallow to deep, as a reader scans a ladder (cell files sort "d16" before "d4").
    out.sort(key=lambda c: (c.task, c.experiment, c.preset, c.width or 0.0, c.depth or 0, c.a))
    return out
