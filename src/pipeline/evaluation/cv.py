"""Out-of-fold evaluation: every patient scored by the fold model that did not see it.

The figures are computed over the out-of-fold predictions of the whole cohort, as LUNA16 computes
its FROC over all 888 scans; each carries a percentile bootstrap CI over patients. The baseline
is compared on the same patients with a paired bootstrap: each replicate draws one set of
patients and scores both models on it, so the CI of the difference reflects the pairing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.evaluation.froc import FP_RATES, froc
from pipeline.io import read_csv
from pipeline.metrics import auc

CLASSIFICATION = ("auc", "sensitivity", "specificity", "precision", "f1")


@dataclass(frozen=True)
class Cohort:
    """What every out-of-fold figure is computed against."""

    annotations: pd.DataFrame      # seriesuid, coords, diameter_mm, patient_id
    excluded: pd.DataFrame         # LUNA16 annotations_excluded.csv rows (may be empty)
    scans: pd.DataFrame            # series_uid, patient_id of every evaluated scan


def read_oof(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate the folds' ``oof.csv`` files; each patient must be scored by exactly one fold."""
    if not paths:
        raise PipelineError("expected at least one fold's oof.csv, got none")
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise PipelineError(f"{path}: expected a train stage's oof.csv, not found")
        frames.append(read_csv(path, dtype={"series_uid": str, "patient_id": str,
                                            "candidate_id": str}))
    oof = pd.concat(frames, ignore_index=True)
    folds_per_patient = oof.groupby("patient_id")["fold"].nunique()
    if (folds_per_patient > 1).any():
        bad = folds_per_patient[folds_per_patient > 1].index[0]
        raise PipelineError(f"patient {bad} is scored by more than one fold")
    if oof.duplicated(["series_uid", "candidate_id"]).any():
        raise PipelineError("a candidate is scored twice across the folds' oof.csv")
    return oof.sort_values(["series_uid", "candidate_id"], kind="stable").reset_index(drop=True)


def classification(oof: pd.DataFrame) -> dict[str, float]:
    """AUC on the probabilities; the rest at each row's own fold threshold (``prediction``)."""
    y = oof["label"].to_numpy(dtype=np.int64)
    pred = oof["prediction"].to_numpy(dtype=bool)
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {"auc": auc(y, oof["probability"].to_numpy(dtype=np.float64)),
            "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp),
            "precision": ratio(tp, tp + fp), "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def froc_of(oof: pd.DataFrame, cohort: Cohort, scans: pd.DataFrame | None = None) -> Any:
    """LUNA16 FROC of the out-of-fold candidates over ``scans`` (default: every scan)."""
    scans = cohort.scans if scans is None else scans
    uids = set(scans["series_uid"])
    cands = oof[oof["series_uid"].isin(uids)]
    ann = cohort.annotations[cohort.annotations["seriesuid"].isin(uids)]
    exc = cohort.excluded[cohort.excluded["seriesuid"].isin(uids)]
    return froc(cands, ann, max(len(uids), 1), excluded=exc)


def figures(oof: pd.DataFrame, cohort: Cohort, scans: pd.DataFrame | None = None
            ) -> dict[str, float]:
    """Every headline figure of one set of out-of-fold predictions."""
    fr = froc_of(oof, cohort, scans)
    return classification(oof) | {"cpm": fr.cpm} | {
        f"sensitivity_at_{r:g}": fr.sensitivities[float(r)] for r in FP_RATES}


def _by_patient(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if "patient_id" not in frame.columns or frame.empty:
        return {}
    return {str(k): v for k, v in frame.groupby("patient_id", sort=False)}


def _resample(frame: pd.DataFrame, groups: dict[str, pd.DataFrame], column: str,
              picks: list[tuple[str, int]]) -> pd.DataFrame:
    """Rows of the drawn patients, each draw's series renamed so duplicates stay distinct scans."""
    parts = []
    for patient, k in picks:
        part = groups.get(patient)
        if part is not None and len(part):
            parts.append(part.assign(**{column: part[column].astype(str) + f"#{k}"}))
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


def bootstrap(models: dict[str, pd.DataFrame], cohort: Cohort, n_resamples: int, seed: int,
              alpha: float = 0.05) -> dict[str, dict[str, list[float]]]:
    """Paired patient bootstrap: ``{model: {figure: [replicate values]}}`` on shared draws."""
    patients = sorted(set(cohort.scans["patient_id"]))
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    groups = {"annotations": _by_patient(cohort.annotations),
              "excluded": _by_patient(cohort.excluded), "scans": _by_patient(cohort.scans)}
    model_groups = {name: _by_patient(oof) for name, oof in models.items()}
    for _ in range(n_resamples):
        pick = rng.integers(0, len(patients), size=len(patients))
        picks = [(patients[i], k) for k, i in enumerate(pick)]
        sub = Cohort(
            annotations=_resample(cohort.annotations, groups["annotations"], "seriesuid", picks),
            excluded=_resample(cohort.excluded, groups["excluded"], "seriesuid", picks),
            scans=_resample(cohort.scans, groups["scans"], "series_uid", picks))
        for name, oof in models.items():
            drawn = _resample(oof, model_groups[name], "series_uid", picks)
            for key, value in figures(drawn, sub).items():
                out[name].setdefault(key, []).append(value)
    return out


def interval(point: float, replicates: Sequence[float], alpha: float = 0.05
             ) -> dict[str, float | None]:
    """``{value, ci_low, ci_high}`` (percentile CI; undefined replicates skipped; NaN -> None)."""
    vals = np.asarray([v for v in replicates if not math.isnan(v)], dtype=np.float64)
    lo, hi = ((float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2)))
              if len(vals) else (math.nan, math.nan))
    return {k: (None if math.isnan(v) else round(v, 6))
            for k, v in (("value", point), ("ci_low", lo), ("ci_high", hi))}


def per_fold(oof: pd.DataFrame, cohort: Cohort) -> list[dict[str, Any]]:
    """The figures of each fold on its own held-out patients (their spread is the error bar)."""
    rows = []
    fold_of = oof.groupby("patient_id")["fold"].first()
    for fold in sorted(oof["fold"].unique()):
        patients = set(fold_of[fold_of == fold].index)
        scans = cohort.scans[cohort.scans["patient_id"].isin(patients)]
        part = oof[oof["fold"] == fold]
        figs = figures(part, cohort, scans)
        rows.append({"fold": int(fold), "patients": len(patients), "scans": len(scans),
                     "candidates": len(part), "positives": int(part["label"].sum()),
                     "threshold": float(part["threshold"].iloc[0]),
                     **{k: (None if math.isnan(v) else round(v, 6)) for k, v in figs.items()}})
    return rows


def spread(rows: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Mean, standard deviation (ddof 1), min and max of a per-fold figure."""
    vals = np.asarray([r[key] for r in rows if r[key] is not None], dtype=np.float64)
    if not len(vals):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": round(float(vals.mean()), 6),
            "std": round(float(vals.std(ddof=1)), 6) if len(vals) > 1 else 0.0,
            "min": round(float(vals.min()), 6), "max": round(float(vals.max()), 6)}
