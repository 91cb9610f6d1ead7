"""LUNA16-style FROC and CPM (Setio et al., 2017, "Validation, comparison, and combination of
algorithms for automatic detection of pulmonary nodules in CT images").

A candidate *hits* a nodule when it lies within the nodule's radius (``diameter_mm / 2``) of the
annotated centre, in the same scan. A nodule counts once, at the highest score among the candidates
that hit it; a candidate that hits any nodule is never a false positive. False positives per scan
divide by the number of scans evaluated. The CPM is the mean sensitivity at 1/8, 1/4, 1/2, 1, 2, 4
and 8 false positives per scan, where the sensitivity at a rate ``r`` is the highest sensitivity of
any operating point with at most ``r`` false positives per scan (a step function, no interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_XYZ = ["coordX", "coordY", "coordZ"]


@dataclass(frozen=True)
class FrocResult:
    """The FROC curve and its summary."""

    curve: pd.DataFrame                # threshold, fps_per_scan, sensitivity (decreasing threshold)
    sensitivities: dict[float, float]  # sensitivity at each FP rate
    cpm: float
    n_nodules: int
    n_scans: int
    n_detected: int                    # nodules hit by at least one candidate (any score)


def match_candidates(candidates: pd.DataFrame, annotations: pd.DataFrame
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Score each nodule and flag each candidate.

    Args:
        candidates: ``series_uid, coordX, coordY, coordZ, probability``.
        annotations: ``seriesuid, coordX, coordY, coordZ, diameter_mm``.

    Returns:
        ``nodule_scores`` (one per annotation row; NaN when no candidate hits it) and
        ``is_hit`` (one bool per candidate row: it hits at least one nodule).
    """
    for name, frame, cols in (("candidates", candidates, ["series_uid", *_XYZ, "probability"]),
                              ("annotations", annotations, ["seriesuid", *_XYZ, "diameter_mm"])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise PipelineError(f"{name} must have columns {cols}, missing {missing}")
    nodule_scores = np.full(len(annotations), np.nan)
    is_hit = np.zeros(len(candidates), dtype=bool)
    cand_xyz = candidates[_XYZ].to_numpy(dtype=np.float64)
    cand_p = candidates["probability"].to_numpy(dtype=np.float64)
    cand_series = candidates["series_uid"].astype(str).to_numpy()
    ann_xyz = annotations[_XYZ].to_numpy(dtype=np.float64)
    radius = annotations["diameter_mm"].to_numpy(dtype=np.float64) / 2.0
    ann_series = annotations["seriesuid"].astype(str).to_numpy()
    for j in range(len(annotations)):
        same = np.flatnonzero(cand_series == ann_series[j])
        if not len(same):
            continue
        dist = np.linalg.norm(cand_xyz[same] - ann_xyz[j], axis=1)
        hits = same[dist <= radius[j]]
        if len(hits):
            is_hit[hits] = True
            nodule_scores[j] = cand_p[hits].max()
    return nodule_scores, is_hit


def froc(candidates: pd.DataFrame, annotations: pd.DataFrame, n_scans: int,
         fp_rates: Sequence[float] = FP_RATES, excluded: pd.DataFrame | None = None
         ) -> FrocResult:
    """FROC curve and CPM of scored ``candidates`` vs ``annotations`` over ``n_scans`` scans.

    Candidates that hit an ``excluded`` finding (LUNA16 ``annotations_excluded.csv``) and no
    nodule are ignored: neither true nor false positives.
    """
    if n_scans < 1:
        raise PipelineError(f"FROC needs at least one scan, got n_scans={n_scans}")
    nodule_scores, is_hit = match_candidates(candidates, annotations)
    if excluded is not None and len(excluded):
        _, on_excluded = match_candidates(candidates, excluded)
        keep = is_hit | ~on_excluded
        candidates, is_hit = candidates[keep], is_hit[keep]
    fp_scores = candidates["probability"].to_numpy(dtype=np.float64)[~is_hit]
    tp_scores = nodule_scores[np.isfinite(nodule_scores)]
    n_nodules = len(annotations)
    thresholds = np.unique(np.concatenate([tp_scores, fp_scores]))[::-1]
    tp_sorted = np.sort(tp_scores)
    fp_sorted = np.sort(fp_scores)
    # count of scores >= t, for each threshold t (searchsorted on the ascending arrays)
    tp_at = len(tp_sorted) - np.searchsorted(tp_sorted, thresholds, side="left")
    fp_at = len(fp_sorted) - np.searchsorted(fp_sorted, thresholds, side="left")
    sens = tp_at / n_nodules if n_nodules else np.zeros(len(thresholds))
    fps = fp_at / n_scans
    curve = pd.DataFrame({"threshold": np.concatenate([[np.inf], thresholds]),
                          "fps_per_scan": np.concatenate([[0.0], fps]),
                          "sensitivity": np.concatenate([[0.0], sens])})
    sensitivities = {}
    for r in fp_rates:
        ok = curve["fps_per_scan"].to_numpy() <= r + 1e-12
        sensitivities[float(r)] = float(curve["sensitivity"].to_numpy()[ok].max())
    cpm = float(np.mean(list(sensitivities.values()))) if sensitivities else float("nan")
    return FrocResult(curve=curve, sensitivities=sensitivities, cpm=cpm, n_nodules=n_nodules,
                      n_scans=n_scans, n_detected=len(tp_scores))
