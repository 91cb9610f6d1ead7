"""Candidates against annotations: LUNA16's hit rule and the generator's sensitivity.

LUNA16 (Setio et al. 2017): a candidate hits a nodule when its centre lies inside the nodule's
sphere, strictly closer to the nodule centre than ``diameter_mm / 2``. A nodule is found when at
least one candidate of its series hits it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pipeline import tables
from pipeline.errors import PipelineError

COORDS = list(tables.COORDS)
ANNOTATION_COLUMNS = list(tables.ANNOTATION_COLUMNS)
# columns of an annotations table that name a nodule's type, when it has them
TYPE_COLUMNS = ("texture", "location")


def _check(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PipelineError(f"{name}: expected columns {columns}, missing {missing}")


def hit_matrix(candidates_mm: np.ndarray, centers_mm: np.ndarray, diameters_mm: np.ndarray
               ) -> np.ndarray:
    """bool ``(N candidates, M nodules)``: candidate strictly inside the nodule's radius."""
    c = np.asarray(candidates_mm, dtype=np.float64).reshape(-1, 3)
    n = np.asarray(centers_mm, dtype=np.float64).reshape(-1, 3)
    d = np.linalg.norm(c[:, None, :] - n[None, :, :], axis=-1)
    return d < np.asarray(diameters_mm, dtype=np.float64)[None, :] / 2


def label_candidates(candidates: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """``candidates`` plus ``class`` (1 = hits a nodule of its series) and ``annotation_id``
    (row of ``annotations`` of the nearest nodule hit, -1 for none)."""
    _check(candidates, ["seriesuid", *COORDS], "candidates")
    _check(annotations, ANNOTATION_COLUMNS, "annotations")
    out = candidates.reset_index(drop=True).copy()
    ann = annotations.reset_index(drop=True)
    label = np.zeros(len(out), dtype=np.int64)
    nodule = np.full(len(out), -1, dtype=np.int64)
    uids = out["seriesuid"].astype(str).to_numpy()
    ann_uids = ann["seriesuid"].astype(str).to_numpy()
    for uid in np.unique(uids):
        rows = np.flatnonzero(uids == uid)
        cols = np.flatnonzero(ann_uids == uid)
        if len(cols) == 0:
            continue
        pts = out.loc[rows, COORDS].to_numpy(dtype=np.float64)
        centers = ann.loc[cols, COORDS].to_numpy(dtype=np.float64)
        hits = hit_matrix(pts, centers, ann.loc[cols, "diameter_mm"].to_numpy(dtype=np.float64))
        dist = np.linalg.norm(pts[:, None] - centers[None], axis=-1)
        dist[~hits] = np.inf
        any_hit = hits.any(axis=1)
        label[rows[any_hit]] = 1
        nodule[rows[any_hit]] = cols[np.argmin(dist[any_hit], axis=1)]
    out["class"] = label
    out["annotation_id"] = nodule
    return out


def nodules_found(candidates: pd.DataFrame, annotations: pd.DataFrame) -> np.ndarray:
    """bool per annotation row: hit by at least one candidate of its series."""
    _check(candidates, ["seriesuid", *COORDS], "candidates")
    _check(annotations, ANNOTATION_COLUMNS, "annotations")
    ann = annotations.reset_index(drop=True)
    found = np.zeros(len(ann), dtype=bool)
    cand_uids = candidates["seriesuid"].astype(str)
    for uid, group in ann.groupby(ann["seriesuid"].astype(str), sort=False):
        pts = candidates.loc[cand_uids == uid, COORDS].to_numpy(dtype=np.float64)
        hits = hit_matrix(pts, group[COORDS].to_numpy(dtype=np.float64),
                          group["diameter_mm"].to_numpy(dtype=np.float64))
        found[group.index] = hits.any(axis=0)
    return found


def generator_metrics(candidates: pd.DataFrame, annotations: pd.DataFrame,
                      series: Iterable[str]) -> dict[str, Any]:
    """Sensitivity of the candidates (overall and per nodule type) and candidates per scan.

    Args:
        candidates: LUNA16 candidates (``seriesuid, coordX..Z``).
        annotations: LUNA16 annotations; optional :data:`TYPE_COLUMNS` give per-type figures.
        series: every scan searched (scans without candidates count as 0 candidates), and only
            the nodules of these scans are counted.
    """
    scans = sorted({str(s) for s in series})
    ann = annotations[annotations["seriesuid"].astype(str).isin(scans)].reset_index(drop=True)
    found = nodules_found(candidates, ann) if len(ann) else np.zeros(0, dtype=bool)
    per_scan = (candidates["seriesuid"].astype(str).value_counts()
                .reindex(scans, fill_value=0).to_numpy())
    metrics: dict[str, Any] = {
        "scans": len(scans),
        "nodules": int(len(ann)),
        "nodules_found": int(found.sum()),
        "sensitivity": _ratio(found.sum(), len(ann)),
        "candidates": int(len(candidates)),
        "candidates_per_scan": round(float(per_scan.mean()), 2) if len(scans) else None,
        "candidates_per_scan_max": int(per_scan.max()) if len(scans) else None,
    }
    by_type: dict[str, dict[str, Any]] = {}
    for column in TYPE_COLUMNS:
        if column not in ann.columns:
            continue
        for value in sorted(ann[column].astype(str).unique()):
            sel = (ann[column].astype(str) == value).to_numpy()
            by_type[value] = {"nodules": int(sel.sum()), "found": int(found[sel].sum()),
                              "sensitivity": _ratio(found[sel].sum(), sel.sum())}
    if by_type:
        metrics["by_type"] = by_type
    return metrics


def _ratio(num: float, den: float) -> float | None:
    return round(float(num) / float(den), 4) if den else None
