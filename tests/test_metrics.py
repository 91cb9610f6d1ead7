import math

import numpy as np
import pytest

from pipeline.evaluation.bootstrap import bootstrap_ci
from pipeline.metrics import binary_metrics, choose_threshold, pr_table, roc_table

VAL_Y = np.array([0, 0, 0, 1, 1, 1])
VAL_P = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.3])


def test_youden_threshold_on_a_toy_validation_set():
    # t=0.7: tpr 2/3, fpr 0 (J=0.667); t=0.3: tpr 1, fpr 2/3 (J=0.333)
    assert choose_threshold(VAL_Y, VAL_P, "youden") == pytest.approx(0.7)


def test_target_sensitivity_threshold_is_the_highest_reaching_it():
    assert choose_threshold(VAL_Y, VAL_P, "sensitivity", 0.9) == pytest.approx(0.3)
    assert choose_threshold(VAL_Y, VAL_P, "sensitivity", 0.6) == pytest.approx(0.7)


def test_binary_metrics_at_a_threshold_match_hand_counts():
    m = binary_metrics(VAL_Y, VAL_P, 0.35)  # positive: .4 .35 .8 .7 -> TP 2 FP 2 FN 1 TN 1
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1 / 3)
    assert m["precision"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert m["auc"] == pytest.approx(7 / 9)


def test_auc_is_nan_when_only_one_class_is_present():
    assert math.isnan(binary_metrics(np.ones(3), np.array([0.1, 0.5, 0.9]), 0.5)["auc"])


def test_roc_and_pr_tables_span_the_curves():
    roc = roc_table(VAL_Y, VAL_P)
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[-1] == 1 and roc["threshold"].max() <= 1
    pr = pr_table(VAL_Y, VAL_P)
    assert list(pr.columns) == ["recall", "precision", "threshold"]


def _toy_test_set(seed=0, n_patients=12):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_patients), 5)
    labels = rng.integers(0, 2, size=len(groups))
    scores = np.clip(labels * 0.4 + rng.uniform(0, 0.6, size=len(groups)), 0, 1)
    return labels, scores, groups


def _metric(y, p):
    return binary_metrics(y, p, 0.5)


def test_bootstrap_ci_contains_the_point_estimate():
    y, p, g = _toy_test_set()
    ci = bootstrap_ci(y, p, g, _metric, n_resamples=200, seed=1)
    for name in ("auc", "sensitivity", "specificity", "accuracy"):
        assert ci[name]["ci_low"] <= ci[name]["value"] <= ci[name]["ci_high"], name
    assert ci["auc"]["ci_low"] < ci["auc"]["ci_high"]


def test_bootstrap_ci_is_reproducible_with_the_same_seed():
    y, p, g = _toy_test_set()
    a = bootstrap_ci(y, p, g, _metric, n_resamples=50, seed=7)
    b = bootstrap_ci(y, p, g, _metric, n_resamples=50, seed=7)
    c = bootstrap_ci(y, p, g, _metric, n_resamples=50, seed=8)
    assert a == b
    assert a != c


def test_bootstrap_with_zero_resamples_gives_the_point_estimate_only():
    y, p, g = _toy_test_set()
    ci = bootstrap_ci(y, p, g, _metric, n_resamples=0, seed=0)
    assert math.isnan(ci["auc"]["ci_low"]) and ci["auc"]["value"] == _metric(y, p)["auc"]
