"""Metric computations of the tasks: confusion matrix, accuracy, macro-F1, WER and CER.

Their names, units and directions are declared in ``results.metrics``.
"""

from __future__ import annotations

import numpy as np


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
    utterance, with word substitutions, deletions and insertions.

    ``per_utterance`` keeps each utterance's word and character errors and reference lengths in
    input order, so that ``results.noise`` can resample utterances (errors cluster within an
    utterance; the words of a test set are not independent trials).
    """
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
        "per_utterance": {
            "word_errors": _errors(words.alignments),
            "words": [len(r) for r in words.references],
            "char_errors": _errors(chars.alignments),
            "chars": [len(r) for r in chars.references],
        },
    }


def _errors(alignments) -> list[int]:
    """Substitutions + deletions + insertions of each sentence's jiwer alignment."""
    out = []
    for chunks in alignments:
        n = 0
        for c in chunks:
            if c.type in ("substitute", "delete"):
                n += c.ref_end_idx - c.ref_start_idx
            elif c.type == "insert":
                n += c.hyp_end_idx - c.hyp_start_idx
        out.append(n)
    return out
