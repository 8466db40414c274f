"""Metrics with their unit and direction, so the harness, reports and checks read them alike.

Every metric a cell records is declared here once: its unit and whether higher is better. A cell
result stores each as a ``Metric`` (value, unit, direction), so a results file explains itself.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """What a metric measures, in which unit, and which way is better.

    ``timed`` marks a figure read off a clock (throughput, latency, search speed, and what is
    derived from them): it varies from run to run and machine to machine, so determinism checks
    leave it out and regression checks judge it by a ratio, not by equality.
    """

    name: str
    unit: str
    higher_is_better: bool
    description: str
    timed: bool = False


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("accuracy", "fraction", True, "top-1 accuracy on the test split"),
        MetricSpec("macro_f1", "fraction", True, "unweighted mean of per-class F1 on test"),
        MetricSpec("test_loss", "nats", False, "mean cross-entropy on the test split"),
        MetricSpec("train_loss", "nats", False, "training loss of the last epoch"),
        MetricSpec("wer", "fraction", False, "word error rate on test, greedy CTC decoding"),
        MetricSpec("cer", "fraction", False, "character error rate on test, greedy decoding"),
        MetricSpec("wer_beam", "fraction", False, "word error rate on test, beam search"),
        MetricSpec("cer_beam", "fraction", False, "character error rate on test, beam search"),
        MetricSpec(
            "wer_lm", "fraction", False, "test WER, lexicon beam search + word n-gram of train text"
        ),
        MetricSpec(
            "cer_lm", "fraction", False, "test CER, lexicon beam search + word n-gram of train text"
        ),
        MetricSpec("val_wer", "fraction", False, "word error rate on val, greedy, best weights"),
        MetricSpec("qbe_map", "fraction", True, "query-by-example mAP over test utterances"),
        MetricSpec("qbe_p_at_1", "fraction", True, "query-by-example precision at 1"),
        MetricSpec("qbe_r_at_10", "fraction", True, "query-by-example recall at 10"),
        MetricSpec("qbe_si_map", "fraction", True, "QbE mAP, same-speaker items removed"),
        MetricSpec("qbe_si_p_at_1", "fraction", True, "QbE P@1, same-speaker items removed"),
        MetricSpec("qbe_si_r_at_10", "fraction", True, "QbE R@10, same-speaker items removed"),
        MetricSpec(
            "qbe_qps_exact", "queries/s", True, "QbE top-10 search speed, exact cosine", timed=True
        ),
        MetricSpec(
            "qbe_qps_faiss_flat", "queries/s", True, "QbE top-10 speed, FAISS flat", timed=True
        ),
        MetricSpec(
            "qbe_qps_faiss_ivf", "queries/s", True, "QbE top-10 speed, FAISS IVF", timed=True
        ),
        MetricSpec("qbe_ivf_recall_at_10", "fraction", True, "FAISS IVF top-10 recall vs exact"),
        MetricSpec("std_map", "fraction", True, "spoken term detection mAP over test terms"),
        MetricSpec("val_accuracy", "fraction", True, "best validation accuracy (early stopping)"),
        MetricSpec(
            "train_seconds", "s", False, "wall time of training (fit), compile included", timed=True
        ),
        MetricSpec(
            "train_samples_per_s",
            "samples/s",
            True,
            "training throughput: batch size over the median step time after warm-up",
            timed=True,
        ),
        MetricSpec(
            "compile_seconds", "s", False, "trace and compile time of the first steps", timed=True
        ),
        MetricSpec(
            "latency_p50_ms", "ms", False, "inference latency at batch 1, median", timed=True
        ),
        MetricSpec(
            "latency_p90_ms", "ms", False, "inference latency at batch 1, 90th pct", timed=True
        ),
        MetricSpec(
            "infer_samples_per_s", "samples/s", True, "inference throughput, batch 256", timed=True
        ),
        MetricSpec("flops_per_example", "FLOP", False, "forward FLOPs per example (layer shapes)"),
        MetricSpec(
            "utilization", "fraction", True, "training FLOP/s over the calibration peak", timed=True
        ),
        MetricSpec(
            "data_wait_share", "fraction", False, "share of step time waiting on data", timed=True
        ),
        MetricSpec("params", "count", False, "trainable parameters"),
        # Memory varies between identical runs (allocator, threads): measured, like a timing.
        MetricSpec(
            "host_peak_rss_bytes", "bytes", False, "peak host RSS during the cell", timed=True
        ),
        MetricSpec(
            "device_peak_bytes", "bytes", False, "peak device memory (GPU allocator)", timed=True
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class Metric:
    """One recorded value with its unit and direction (``higher_is_better``)."""

    value: float
    unit: str
    higher_is_better: bool

    @classmethod
    def of(cls, name: str, value: float) -> Metric:
        """``value`` of the declared metric ``name``; an undeclared name is a ``KeyError``."""
        spec = METRICS[name]
        return cls(float(value), spec.unit, spec.higher_is_better)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


def is_timed(name: str) -> bool:
    """Whether ``name`` is read off a clock (and so varies between identical runs)."""
    spec = METRICS.get(name)
    return bool(spec and spec.timed)
