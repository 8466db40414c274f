"""How far a cell's quality metric would move on another draw of its test set: 95% intervals.

The regression gate (``results.check``) tolerates what noise explains and no more. For one seed,
the noise is the test set's: a per-example bootstrap (resampling test examples with
replacement, seeded) over what the record keeps per example:

- keyword spotting: ``evaluation["target"]`` and ``["predicted"]`` (or the confusion matrix,
  the same pairs without their order) for accuracy and macro-F1;
- speech recognition: each utterance's errors and reference length
  (``evaluation["errors"]["per_utterance"]``, and ``errors_beam``, ``errors_lm``) for WER and
  CER, resampled by utterance, since errors cluster within an utterance;
- retrieval: each query's AP (``retrieval["per_query_ap"]``) for QbE mAP, each term's AP
  (``term_detection["per_term"]``) for spoken term detection mAP.

Records written before these were kept fall back to the normal approximation of a proportion
over the items the metric averages (reference words, queries, terms), named as such in the
interval's ``method``; it is too narrow where errors cluster.

The difference residual − plain at one depth is the benchmark's finding: ``difference`` gives
its interval, paired by example when both cells kept per-example outcomes of the same test set
(the same examples resampled for both), else from the two cells' intervals as if independent.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from results.record import CellResult

RESAMPLES = 1000
Z95 = 1.959964  # two-sided 95% normal quantile
SEED = 0  # bootstrap resamples are seeded: the same run gives the same baseline


@dataclasses.dataclass(frozen=True)
class Interval:
    """A 95% half-width around a value, and how it was obtained."""

    halfwidth: float
    method: str  # "bootstrap over N examples", "normal approximation over N ..."


def _outcomes(r: CellResult) -> tuple[np.ndarray, np.ndarray] | None:
    """(target, predicted) per test example, in order or rebuilt from the confusion matrix."""
    kept = _paired(r)
    if kept is not None:
        return kept
    cm = r.evaluation.get("confusion_matrix")
    if cm:
        cm = np.asarray(cm)
        t, p = np.nonzero(cm)
        counts = cm[t, p]
        return np.repeat(t, counts), np.repeat(p, counts)
    return None


def _scores(target: np.ndarray, predicted: np.ndarray, idx: np.ndarray, n_classes: int):
    """Accuracy and macro-F1 of each resample (rows of ``idx``)."""
    t, p = target[idx], predicted[idx]
    acc = (t == p).mean(axis=1)
    f1 = np.zeros(len(idx))
    present = np.zeros(len(idx))
    for c in range(n_classes):
        tp = ((t == c) & (p == c)).sum(axis=1)
        denom = (t == c).sum(axis=1) + (p == c).sum(axis=1)
        has = denom > 0
        f1 += np.where(has, 2 * tp / np.maximum(denom, 1), 0.0)
        present += has
    return {"accuracy": acc, "macro_f1": f1 / np.maximum(present, 1)}


@dataclasses.dataclass(frozen=True)
class Sample:
    """A metric's per-example parts: its value is ``sum(num) / sum(den)`` over the examples
    (errors over reference words per utterance; AP over one per query or term). ``key``
    identifies the examples: two cells are paired only on equal keys."""

    num: np.ndarray
    den: np.ndarray
    key: tuple
    what: str  # "utterances", "queries", "terms"

    def resampled(self, idx: np.ndarray) -> np.ndarray:
        """The metric on each resample (rows of ``idx``)."""
        den = self.den[idx].sum(axis=1)
        return self.num[idx].sum(axis=1) / np.where(den > 0, den, np.nan)


# Error-rate metric -> (its evaluation entry, per-utterance errors, per-utterance lengths).
_RATES = {
    f"{unit}{suffix}": (f"errors{suffix}", f"{part}_errors", f"{part}s")
    for suffix in ("", "_beam", "_lm")
    for unit, part in (("wer", "word"), ("cer", "char"))
}
# Mean-of-AP metric -> (its evaluation entry, per-query APs).
_MEANS = {"qbe_map": ("retrieval", "per_query_ap"), "qbe_si_map": ("retrieval", "si_per_query_ap")}


def sample(r: CellResult, name: str) -> Sample | None:
    """The per-example parts of metric ``name`` that ``r``'s record keeps, else None."""
    ev = r.evaluation
    if name in _RATES:
        entry, errors, lengths = _RATES[name]
        kept = (ev.get(entry) or {}).get("per_utterance") or {}
        if kept.get(errors) and kept.get(lengths):
            num, den = np.asarray(kept[errors], float), np.asarray(kept[lengths], float)
            return Sample(num, den, (ev.get("split"), tuple(kept[lengths])), "utterances")
    elif name in _MEANS:
        entry, key = _MEANS[name]
        aps = (ev.get(entry) or {}).get(key)
        if aps:
            return Sample(np.asarray(aps, float), np.ones(len(aps)), (ev.get("split"), len(aps)),
                          "queries")  # fmt: skip
    elif name == "std_map":
        rows = (ev.get("term_detection") or {}).get("per_term") or []
        rows = sorted(rows, key=lambda t: t["term"])
        if rows:
            aps = np.asarray([t["ap"] for t in rows], float)
            key = (ev.get("split"), tuple((t["term"], t["relevant"]) for t in rows))
            return Sample(aps, np.ones(len(rows)), key, "terms")
    return None


def _resamples(n: int) -> np.ndarray:
    return np.random.default_rng(SEED).integers(0, n, size=(RESAMPLES, n))


def _halfwidth(values: np.ndarray) -> float:
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return float((hi - lo) / 2)


def _count(r: CellResult, name: str) -> tuple[int, str] | None:
    """How many independent items a fraction metric averages over, and what they are."""
    ev = r.evaluation
    if name.startswith(("wer", "cer")):
        errors = ev.get("errors") or {}
        words = errors.get("reference_words")
        if words:
            return int(words), "reference words"
    if name.startswith("qbe"):
        queries = (ev.get("retrieval") or {}).get("queries")
        if queries:
            return int(queries), "queries"
    if name.startswith("std"):
        terms = (ev.get("term_detection") or {}).get("terms")
        if terms:
            return int(terms), "terms"
    n = ev.get("n_examples") or (r.dataset.sizes.get("test") if r.dataset else None)
    return (int(n), "test examples") if n else None


def intervals(r: CellResult, names=None) -> dict[str, Interval]:
    """95% half-widths of the cell's fraction metrics (test-set noise), where estimable;
    ``names`` restricts them (the bootstrap runs only when accuracy or macro-F1 is asked)."""
    out: dict[str, Interval] = {}
    wanted = set(r.metrics) if names is None else set(names) & set(r.metrics)
    pairs = _outcomes(r) if wanted & {"accuracy", "macro_f1"} else None
    if pairs is not None and len(pairs[0]):
        target, predicted = pairs
        n_classes = int(max(target.max(), predicted.max()) + 1)
        boot = _scores(target, predicted, _resamples(len(target)), n_classes)
        for name, values in boot.items():
            if name in wanted:
                half = max(_halfwidth(values), 1.0 / len(target))  # at least one example's worth
                out[name] = Interval(half, f"bootstrap over {len(target)} examples")
    for name in sorted(wanted - set(out)):
        found = sample(r, name)
        if found is not None and math.isfinite(r.metrics[name].value):
            n = len(found.num)
            half = max(_halfwidth(found.resampled(_resamples(n))), 1.0 / found.den.sum())
            out[name] = Interval(half, f"bootstrap over {n} {found.what}")
    for name in sorted(wanted - set(out)):
        m = r.metrics[name]
        if m.unit != "fraction" or not math.isfinite(m.value):
            continue
        count = _count(r, name)
        if count is None:
            continue
        n, what = count
        p = min(max(m.value, 0.0), 1.0)
        # at least one item's worth, so a perfect score still has an interval
        half = max(Z95 * math.sqrt(p * (1 - p) / n), 1.0 / n)
        out[name] = Interval(half, f"normal approximation over {n} {what}")
    return out


def difference(a: CellResult, b: CellResult, name: str) -> tuple[float, Interval] | None:
    """``a − b`` of metric ``name`` and its 95% half-width (paired when possible)."""
    if name not in a.metrics or name not in b.metrics:
        return None
    diff = a.metrics[name].value - b.metrics[name].value
    pa, pb = _paired(a), _paired(b)
    if name in ("accuracy", "macro_f1") and pa is not None and pb is not None:
        (ta, qa), (tb, qb) = pa, pb
        if len(ta) == len(tb) and np.array_equal(ta, tb):
            idx = _resamples(len(ta))
            k = int(max(ta.max(), qa.max(), qb.max()) + 1)
            deltas = _scores(ta, qa, idx, k)[name] - _scores(tb, qb, idx, k)[name]
            return diff, Interval(_halfwidth(deltas), f"paired bootstrap over {len(ta)} examples")
    sa, sb = sample(a, name), sample(b, name)
    if sa is not None and sb is not None and sa.key == sb.key:
        idx = _resamples(len(sa.num))
        deltas = sa.resampled(idx) - sb.resampled(idx)
        return diff, Interval(_halfwidth(deltas), f"paired bootstrap over {len(sa.num)} {sa.what}")
    ia, ib = intervals(a, (name,)).get(name), intervals(b, (name,)).get(name)
    if ia is None or ib is None:
        return None
    half = math.hypot(ia.halfwidth, ib.halfwidth)
    return diff, Interval(half, f"unpaired, from the cells' intervals ({ia.method})")


def _paired(r: CellResult):
    """(target, predicted) per test example in test order, when the record keeps them."""
    ev = r.evaluation
    if "target" in ev and "predicted" in ev:
        return np.asarray(ev["target"]), np.asarray(ev["predicted"])
    return None
