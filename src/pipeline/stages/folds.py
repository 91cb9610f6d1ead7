"""The ``folds`` stage: every patient in one of ``cv.folds`` folds (stratified on nodules,
deterministic), or in its LUNA16 subset's fold."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import StageReport
from pipeline.data.cv_params import CvParams
from pipeline.data.folds import assign_folds, fold_summary, folds_from_subsets, write_folds
from pipeline.data.patches_format import PATCH_INDEX
from pipeline.errors import InputError
from pipeline.io import read_csv, write_json
from pipeline.tables import ANONYMIZED_METAIMAGE_SERIES


@dataclass
class FoldsReport(StageReport):
    table: pd.DataFrame
    folds: int
    seed: int
    per_fold: list[dict[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.per_fold = fold_summary(self.table)

    def write(self, metrics: Path) -> None:
        record: dict[str, Any] = {"folds": self.folds, "seed": self.seed,
                                  "per_fold": self.per_fold}
        write_json(metrics, record)

    def summary(self) -> str:
        return f"{len(self.table)} patients in {self.folds} folds: " + ", ".join(
            f"{s['patients']} ({s['positives']} positive candidates)" for s in self.per_fold)


def subsets_of(path: Path, index: pd.DataFrame) -> dict[str, list[str]]:
    """patient -> the subset cells of its series (series of index.csv, subset of series.csv)."""
    if not path.is_file():
        raise InputError(f"{path}: expected the series table (cv.folds_from: subset), not found")
    if "subset" not in read_csv(path, dtype=str, nrows=0).columns:
        raise InputError(f"{path}: no subset column: cv.folds_from: subset needs a MetaImage "
                         "cohort in LUNA16's subsetN/ folders (data.format: metaimage)")
    series = ANONYMIZED_METAIMAGE_SERIES.only("series_uid", "subset").read(path)
    subset_of = dict(zip(series["series_uid"], series["subset"], strict=True))
    pairs = index[["patient_id", "series_uid"]].drop_duplicates()
    out: dict[str, list[str]] = {}
    for patient, uid in zip(pairs["patient_id"], pairs["series_uid"], strict=True):
        out.setdefault(patient, []).append(subset_of.get(uid, ""))
    return out


def run(patches: Path, output: Path, cv: CvParams, series_table: Path) -> FoldsReport:
    """Assign the patients of ``patches``/index.csv to folds and write the table to ``output``.

    ``series_table``: anonymize's series.csv, read for its ``subset`` column when
    ``cv.folds_from`` is ``subset``.
    """
    index = PATCH_INDEX.only("series_uid", "patient_id", "label").read(patches / PATCH_INDEX.file)
    nodules = index.groupby("patient_id")["label"].sum().to_dict()
    candidates = index.groupby("patient_id").size().to_dict()
    if cv.folds_from == "subset":
        table = folds_from_subsets(subsets_of(series_table, index), nodules, candidates,
                                   cv.folds)
    else:
        table = assign_folds(nodules, candidates, cv.folds, cv.seed)
    write_folds(output, table)
    return FoldsReport(table, cv.folds, cv.seed)
