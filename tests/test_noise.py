"""One-seed intervals of WER, CER and the mAPs are a bootstrap over the test set's examples
(utterances, queries, terms), paired between two cells on the same examples: where errors
cluster within utterances, the old normal approximation over reference words is measurably too
narrow and the bootstrap is not."""

import numpy as np
from fakes import cell_info

from bench import metrics as bench_metrics
from results import noise, stats
from results.metrics import Metric
from results.record import CellResult

WORDS = 12  # words per utterance
N = 300  # utterances per test set


def _utterance_errors(rng, n: int, hard_share: float = 0.3) -> np.ndarray:
    """Clustered errors: a hard utterance loses most of its words, an easy one almost none."""
    hard = rng.random(n) < hard_share
    rate = np.where(hard, 0.8, 0.03)
    return rng.binomial(WORDS, rate)


def _asr_cell(errors: np.ndarray, *, residual: bool = True, kept: bool = True) -> CellResult:
    words = np.full(len(errors), WORDS)
    wer = float(errors.sum() / words.sum())
    rates = {"wer": wer, "reference_words": int(words.sum())}
    if kept:
        rates["per_utterance"] = {
            "word_errors": errors.tolist(),
            "words": words.tolist(),
            "char_errors": (errors * 4).tolist(),
            "chars": (words * 5).tolist(),
        }
    kind = "res" if residual else "plain"
    info = cell_info(f"asr-x-q-d3-{kind}-s0", task="asr", residual=residual, depth=3)
    values = {
        "wer": Metric.of("wer", wer),
        "cer": Metric.of("cer", float(errors.sum() * 4 / (words.sum() * 5))),
    }
    return CellResult(info, "ok", metrics=values, evaluation={"errors": rates, "split": "test"})


def _true_halfwidth(rng, draws: int = 2000) -> float:
    """Half the central 95% range of WER over fresh test sets from the same population."""
    wers = [_utterance_errors(rng, N).sum() / (N * WORDS) for _ in range(draws)]
    lo, hi = np.percentile(wers, [2.5, 97.5])
    return (hi - lo) / 2


def test_clustered_errors_defeat_the_normal_approximation_not_the_bootstrap():
    rng = np.random.default_rng(0)
    truth = _true_halfwidth(rng)
    cell = _asr_cell(_utterance_errors(rng, N))
    boot = noise.intervals(cell, ("wer",))["wer"]
    normal = noise.intervals(_asr_cell(_utterance_errors(np.random.default_rng(0), N), kept=False),
                             ("wer",))["wer"]  # fmt: skip
    assert boot.method == f"bootstrap over {N} utterances"
    assert "normal approximation over 3600 reference words" in normal.method
    assert 0.75 * truth < boot.halfwidth < 1.3 * truth, (boot.halfwidth, truth)
    assert normal.halfwidth < 0.6 * truth, (normal.halfwidth, truth)  # too narrow


def test_a_difference_on_the_same_utterances_is_paired():
    rng = np.random.default_rng(1)
    plain = _utterance_errors(rng, N)
    # the residual net makes the same mistakes on the same hard utterances, a few fewer
    res = np.maximum(plain - rng.binomial(1, 0.5, N), 0)
    a, b = _asr_cell(res), _asr_cell(plain, residual=False)
    diff, paired = noise.difference(a, b, "wer")
    assert paired.method == f"paired bootstrap over {N} utterances"
    assert abs(diff - (res.sum() - plain.sum()) / (N * WORDS)) < 1e-12
    # pairing removes the utterances' shared difficulty: far narrower than independent cells
    unpaired = np.hypot(noise.intervals(a, ("wer",))["wer"].halfwidth,
                        noise.intervals(b, ("wer",))["wer"].halfwidth)  # fmt: skip
    assert paired.halfwidth < 0.5 * unpaired
    assert -diff > paired.halfwidth  # decisive where the unpaired interval is not
    assert -diff < unpaired
    # the one-seed comparison the report and the baseline make uses it
    est = stats.paired_difference({0: a}, {0: b}, "wer")
    assert est.method == f"one seed, paired bootstrap over {N} utterances" and not est.over_seeds
    # CER is resampled from its own per-utterance counts
    assert noise.difference(a, b, "cer")[1].method == f"paired bootstrap over {N} utterances"


def test_cells_on_different_utterances_are_not_paired():
    rng = np.random.default_rng(2)
    a = _asr_cell(_utterance_errors(rng, N))
    b = _asr_cell(_utterance_errors(rng, N - 1), residual=False)
    assert noise.difference(a, b, "wer")[1].method.startswith("unpaired, from the cells' intervals")


def test_per_utterance_counts_add_up_to_jiwer():
    refs = ["the cat sat", "on the mat", "a dog"]
    hyps = ["the bat sat down", "on mat", "a dog"]
    rates = bench_metrics.error_rates(refs, hyps)
    kept = rates["per_utterance"]
    assert kept["word_errors"] == [2, 1, 0] and kept["words"] == [3, 3, 2]
    assert abs(sum(kept["word_errors"]) / sum(kept["words"]) - rates["wer"]) < 1e-12
    assert abs(sum(kept["char_errors"]) / sum(kept["chars"]) - rates["cer"]) < 1e-12


def _map_cell(aps, terms=None, residual=True) -> CellResult:
    kind = "res" if residual else "plain"
    info = cell_info(f"asr-x-q-d3-{kind}-s0", task="asr", residual=residual, depth=3)
    terms = terms or [f"w{i}" for i in range(len(aps))]
    per_term = sorted(
        ({"term": t, "ap": float(ap), "relevant": 2} for t, ap in zip(terms, aps, strict=True)),
        key=lambda t: (t["ap"], t["term"]),  # as term_detection stores them: hardest first
    )
    ev = {"term_detection": {"per_term": per_term, "terms": len(aps)},
          "retrieval": {"per_query_ap": list(map(float, aps)), "queries": len(aps)}}  # fmt: skip
    m = float(np.mean(aps))
    values = {"std_map": Metric.of("std_map", m), "qbe_map": Metric.of("qbe_map", m)}
    return CellResult(info, "ok", metrics=values, evaluation=ev)


def test_term_and_query_aps_are_resampled_and_paired_by_term():
    rng = np.random.default_rng(3)
    base = rng.random(200)
    a, b = _map_cell(np.clip(base + 0.05, 0, 1)), _map_cell(base, residual=False)
    for name, what in (("std_map", "terms"), ("qbe_map", "queries")):
        assert noise.intervals(a, (name,))[name].method == f"bootstrap over 200 {what}"
        diff, iv = noise.difference(a, b, name)
        assert iv.method == f"paired bootstrap over 200 {what}" and diff > iv.halfwidth
    # other terms: no pairing
    c = _map_cell(base, terms=[f"v{i}" for i in range(200)], residual=False)
    assert noise.difference(a, c, "std_map")[1].method.startswith("unpaired")
