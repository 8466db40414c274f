"""Metrics with their unit and direction, so reports and regression checks read them the same way.

Every metric a cell records is declared here once: its unit and whether higher is better. Cell
results store ``{"value", "unit", "higher_is_better"}`` for each, so a results file explains
itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np


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
    )
}


def record(name: str, value: float) -> dict:
    """A metric value with its unit and direction, as stored in a cell result."""
    spec = METRICS[name]
    return {"value": float(value), "unit": spec.unit, "higher_is_better": spec.higher_is_better}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]`` as an int64 matrix."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def accuracy(cm: np.ndarray) -> float:
    """Top-1 accuracy from a confusion matrix."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the truth or the predictions.

    A class absent from both has no defined F1 and is left out rather than counted as 0 or 1.
    """
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=present)
    return float(f1[present].mean()) if present.any() else float("nan")


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """Corpus-level WER and CER (jiwer): errors summed over the whole set, not averaged per
    utterance, with word substitutions, deletions and insertions."""
    import jiwer

    words = jiwer.process_words(list(references), list(hypotheses))
    chars = jiwer.process_characters(list(references), list(hypotheses))
    return {
        "wer": float(words.wer),
        "cer": float(chars.cer),
        "substitutions": int(words.substitutions),
        "deletions": int(words.deletions),
        "insertions": int(words.insertions),
        "reference_words": int(words.hits + words.substitutions + words.deletions),
    }
