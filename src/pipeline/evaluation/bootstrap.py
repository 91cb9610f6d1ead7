"""Bootstrap confidence intervals that resample patients, not candidates.

Candidates of one patient are correlated (same scan, same anatomy), so the unit of resampling is
the patient: each replicate draws patients with replacement and keeps all their candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pipeline.errors import PipelineError

MetricFn = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def bootstrap_ci(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, metric_fn: MetricFn,
                 n_resamples: int, seed: int, alpha: float = 0.05
                 ) -> dict[str, dict[str, float]]:
    """Point estimate and percentile ``1 - alpha`` CI of every metric ``metric_fn`` returns.

    Args:
        labels, scores: per-candidate arrays.
        groups: per-candidate patient id; patients are resampled with replacement.
        metric_fn: ``(labels, scores) -> {name: value}``.
        n_resamples: bootstrap replicates (0: no interval, bounds are NaN).
        seed: seeds ``np.random.default_rng``; the same seed gives the same interval.

    Returns ``{name: {"value", "ci_low", "ci_high"}}``. Replicates where a metric is undefined (e.g.
    AUC with one class) are skipped for that metric.
    """
    labels, scores, groups = np.asarray(labels), np.asarray(scores), np.asarray(groups)
    if not (len(labels) == len(scores) == len(groups)):
        raise PipelineError(f"expected equal lengths, got labels={len(labels)}, "
                            f"scores={len(scores)}, groups={len(groups)}")
    point = metric_fn(labels, scores)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(uniq), size=len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        for k, v in metric_fn(labels[idx], scores[idx]).items():
            if not math.isnan(v):
                samples[k].append(v)
    out = {}
    for k, v in point.items():
        vals = np.asarray(samples[k])
        lo, hi = ((float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2)))
                  if len(vals) else (math.nan, math.nan))
        out[k] = {"value": float(v), "ci_low": lo, "ci_high": hi}
    return out
