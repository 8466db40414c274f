"""Classification metrics against hand-computed values."""

import numpy as np
import pytest

from bench import metrics
from results.metrics import METRICS, Metric


def test_confusion_accuracy_macro_f1_hand_computed():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = metrics.confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert metrics.accuracy(cm) == pytest.approx(4 / 6)
    # per class F1: 2*2/(3+2)=0.8, 2*1/(2+2)=0.5, 2*1/(1+2)=2/3
    assert metrics.macro_f1(cm) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_macro_f1_ignores_classes_absent_from_truth_and_predictions():
    cm = metrics.confusion_matrix(np.array([0, 1]), np.array([0, 1]), 4)
    assert metrics.macro_f1(cm) == 1.0
    assert metrics.accuracy(cm) == 1.0


def test_every_metric_has_unit_and_direction():
    for name, spec in METRICS.items():
        assert spec.unit and isinstance(spec.higher_is_better, bool), name
    assert Metric.of("test_loss", 0.5) == Metric(0.5, "nats", False)
    with pytest.raises(KeyError):
        Metric.of("not_a_metric", 1.0)
