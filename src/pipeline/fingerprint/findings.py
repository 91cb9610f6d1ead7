"""The patches stage's part of the fingerprint: candidates and nodules, as counts and distributions.

From the tables the stage writes (``index.csv``, ``annotations.csv``, ``rejected.csv``) and the
series it read (``geometry.csv``): candidates by class, nodules by diameter and, when the
annotation table has such columns (``texture``, ``location``, ``lobe``...), by texture and location;
candidates per scan (scans without any count as 0). No UID, no pseudonym, no coordinate.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.fingerprint.stats import by_category, histogram, summary, value_counts

DIAMETER_BIN_MM = 2.0
CANDIDATES_BIN = 5
#: optional annotation columns counted when present (LIDC-IDRI ratings, a site's own table)
CATEGORY_COLUMNS = ("texture", "location", "lobe", "type")


def patches_fingerprint(index: pd.DataFrame, annotations: pd.DataFrame, rejected: pd.DataFrame,
                        series_uids: list[str]) -> dict[str, Any]:
    """The patches part.

    Args:
        index: ``index.csv`` rows (``series_uid``, ``label``).
        annotations: the nodules of the kept series (``diameter_mm`` and optional categories).
        rejected: the candidates left out, with ``reason``.
        series_uids: every series the stage read (so scans without candidates count).
    """
    per_scan = index.groupby("series_uid").size().reindex(series_uids, fill_value=0)
    positives = index.loc[index["label"] == 1].groupby("series_uid").size()
    diameters = pd.to_numeric(annotations.get("diameter_mm", pd.Series(dtype=float)),
                              errors="coerce").dropna()
    nodules_per_scan = annotations.groupby("seriesuid").size().reindex(series_uids,
                                                                      fill_value=0) \
        if "seriesuid" in annotations.columns else pd.Series(0, index=series_uids)
    categories = {c: value_counts(annotations[c].astype(str)) for c in CATEGORY_COLUMNS
                  if c in annotations.columns}
    return {
        "scans": len(series_uids),
        "candidates": int(len(index)),
        "candidates_by_class": {"nodule": int((index["label"] == 1).sum()),
                                "non_nodule": int((index["label"] == 0).sum())},
        "candidates_per_scan": {"bin": CANDIDATES_BIN,
                                "histogram": histogram(per_scan, CANDIDATES_BIN),
                                "summary": summary(per_scan, digits=1)},
        "positives_per_scan": summary(positives.reindex(series_uids, fill_value=0), digits=1),
        "nodules": int(len(annotations)),
        "nodules_per_scan": summary(nodules_per_scan, digits=1),
        "nodule_diameter_mm": {"bin_mm": DIAMETER_BIN_MM,
                               "histogram": histogram(diameters, DIAMETER_BIN_MM),
                               "summary": summary(diameters, digits=2),
                               "under_6mm": int((diameters < 6.0).sum())},
        "nodules_by": categories,
        "rejected": {"candidates": int(len(rejected)),
                     "by_reason": by_category(rejected["reason"].value_counts().to_dict())
                     if "reason" in rejected.columns else {}},
    }
