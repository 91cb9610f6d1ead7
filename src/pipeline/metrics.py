"""Classification metrics on candidate scores: AUC, operating-point metrics, threshold choice.

Pure NumPy / scikit-learn on ``labels`` (0/1) and ``scores`` (probability of class 1).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from pipeline.errors import PipelineError


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise PipelineError(f"expected one score per label, got {s.shape} scores, {y.shape} labels")
    if not np.isin(y, (0, 1)).all():
        raise PipelineError(f"labels must be 0 or 1, got {sorted(set(y.tolist()))}")
    return y, s


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, or NaN when only one class is present."""
    y, s = _check(labels, scores)
    if y.min(initial=1) == y.max(initial=0):
        return math.nan
    return float(roc_auc_score(y, s))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC, accuracy, sensitivity, specificity, precision and F1 with ``score >= threshold``."""
    y, s = _check(labels, scores)
    pred = s >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))
    sens = _ratio(tp, tp + fn)
    prec = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {"auc": auc(y, s), "accuracy": _ratio(tp + tn, len(y)), "sensitivity": sens,
            "specificity": _ratio(tn, tn + fp), "precision": prec, "f1": f1}


def choose_threshold(labels: np.ndarray, scores: np.ndarray, method: str = "youden",
                     target_sensitivity: float = 0.9) -> float:
    """Pick an operating threshold on validation scores.

    ``youden``: maximise sensitivity + specificity - 1 (ties: the highest threshold).
    ``sensitivity``: the highest threshold whose sensitivity is >= ``target_sensitivity``.
    The returned threshold is a score value, applied as ``score >= threshold``.
    """
    y, s = _check(labels, scores)
    if y.min(initial=1) == y.max(initial=0):
        raise PipelineError(f"choosing a threshold needs both classes, got only {set(y.tolist())}")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thr)
    fpr, tpr, thr = fpr[finite], tpr[finite], thr[finite]
    if method == "youden":
        j = tpr - fpr
        return float(thr[int(np.argmax(j))])  # thresholds decrease: argmax keeps the highest
    if method == "sensitivity":
        ok = np.flatnonzero(tpr >= target_sensitivity - 1e-12)
        return float(thr[ok[0]])
    raise PipelineError(f"threshold method must be 'youden' or 'sensitivity', got {method!r}")


def roc_table(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """ROC curve points: ``fpr, tpr, threshold`` (threshold clipped to 1 at the origin)."""
    y, s = _check(labels, scores)
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thr, 1.0)})


def pr_table(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Precision-recall points: ``recall, precision, threshold`` (by increasing threshold)."""
    y, s = _check(labels, scores)
    precision, recall, thr = precision_recall_curve(y, s)
    return pd.DataFrame({"recall": recall, "precision": precision,
                         "threshold": np.append(thr, 1.0)})


def sens_spec(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
              ) -> tuple[float, float]:
    """Sensitivity and specificity at ``threshold``."""
    m = binary_metrics(labels, scores, threshold)
    return m["sensitivity"], m["specificity"]
