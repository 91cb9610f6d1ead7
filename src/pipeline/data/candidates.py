"""Candidate tables (LUNA16 columns): ids, merging of near duplicates, matching to nodules.

Candidates keep the LUNA16 columns ``seriesuid, coordX, coordY, coordZ, class`` (world mm, LPS)
plus ``candidate_id`` (the row number in the input ``candidates.csv`` unless the table has one).
Annotations get ``annotation_id`` the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from pipeline import tables
from pipeline.errors import PipelineError
from pipeline.tables import ANNOTATIONS, CANDIDATES, validate_table

COORDS = list(tables.COORDS)
CANDIDATE_COLUMNS = list(tables.CANDIDATE_COLUMNS)
ANNOTATION_COLUMNS = list(tables.ANNOTATION_COLUMNS)


def prepare_table(frame: pd.DataFrame, columns: list[str], id_column: str, name: str
                  ) -> pd.DataFrame:
    """Check the LUNA16 columns and every cell (:func:`pipeline.tables.validate_table`: numbers,
    classes, duplicates), add ``id_column`` (row number) if absent, cast types."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PipelineError(f"{name}: expected columns {columns}, missing {missing}")
    spec = {tuple(CANDIDATES): CANDIDATES, tuple(ANNOTATIONS): ANNOTATIONS}.get(tuple(columns))
    out = validate_table(frame, spec, name, allow_empty=True) if spec is not None else frame.copy()
    if id_column not in out.columns:
        out[id_column] = np.arange(len(out), dtype=np.int64)
    out["seriesuid"] = out["seriesuid"].astype(str)
    out[COORDS] = out[COORDS].astype(np.float64)
    return out


def merge_candidates(candidates: pd.DataFrame, merge_distance_mm: float) -> pd.DataFrame:
    """Merge candidates of a series closer than ``merge_distance_mm`` (single linkage).

    A merged candidate keeps the highest class of its group, the mean position of the members
    having that class and the smallest ``candidate_id``; ``n_merged`` counts its members. With
    ``merge_distance_mm == 0`` the table is returned with ``n_merged = 1``.
    """
    out = candidates.copy()
    out["n_merged"] = 1
    if merge_distance_mm <= 0 or out.empty:
        return out
    merged = []
    for _, group in out.groupby("seriesuid", sort=True):
        points = group[COORDS].to_numpy()
        pairs = cKDTree(points).query_pairs(r=merge_distance_mm, output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else
                           ([], ([], [])), shape=(len(points), len(points)))
        _, labels = connected_components(graph, directed=False)
        for label in np.unique(labels):
            members = group.iloc[np.flatnonzero(labels == label)]
            top = members["class"].max()
            best = members[members["class"] == top]
            row = members.sort_values("candidate_id").iloc[0].copy()
            row[COORDS] = best[COORDS].mean().to_numpy()
            row["class"] = top
            row["n_merged"] = len(members)
            merged.append(row)
    result = pd.DataFrame(merged).reset_index(drop=True)
    return result.astype({"candidate_id": out["candidate_id"].dtype, "class": out["class"].dtype,
                          "n_merged": np.int64})


def match_annotations(candidates: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """Add ``annotation_id`` and ``diameter_mm`` to positive candidates that hit a nodule.

    A positive hits the nearest nodule of its series whose centre is within the nodule's radius
    (the LUNA16 hit criterion); negatives and positives hitting nothing get NA.
    """
    out = candidates.copy()
    by_series = {uid: g for uid, g in annotations.groupby("seriesuid", sort=False)}
    ann_ids = np.full(len(out), -1, dtype=np.int64)
    diameters = np.full(len(out), np.nan)
    labels = out["class"].to_numpy()
    points = out[COORDS].to_numpy()
    uids = out["seriesuid"].to_numpy()
    for i in np.flatnonzero(labels == 1):
        nodules = by_series.get(uids[i])
        if nodules is None:
            continue
        dist = np.linalg.norm(nodules[COORDS].to_numpy() - points[i], axis=1)
        hits = np.flatnonzero(dist <= nodules["diameter_mm"].to_numpy() / 2.0)
        if len(hits):
            j = hits[np.argmin(dist[hits])]
            ann_ids[i] = int(nodules["annotation_id"].iat[j])
            diameters[i] = float(nodules["diameter_mm"].iat[j])
    out["annotation_id"] = pd.array(np.where(ann_ids >= 0, ann_ids, 0), dtype="Int64")
    out.loc[ann_ids < 0, "annotation_id"] = pd.NA
    out["diameter_mm"] = diameters
    return out
