"""``data:``, ``patches:`` and ``cv:`` of ``params.yaml``: the raw data, the cubes, the folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import Section, bounds
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class DataParams(Section):
    """Where the raw data comes from: synthetic default or real cohort (LIDC-IDRI, LUNA16)."""

    SECTION = "data"

    dicom_dir: str
    annotations_csv: str
    candidates_csv: str
    synthetic: bool
    # LUNA16's annotations_excluded.csv (findings whose candidates the FROC ignores); optional
    annotations_excluded_csv: str | None = None
    # what dicom_dir holds: DICOM, or MetaImage volumes (LUNA16's subsetN/<seriesuid>.mhd+.raw);
    # auto decides from the folder (pipeline.metaimage.detect) and refuses a folder with both
    format: Literal["auto", "dicom", "metaimage"] = "auto"
    # LUNA16's two tracks: classify the provided candidates, or the generator's (candidates stage)
    candidates: Literal["provided", "generated"] = "provided"


@dataclass(frozen=True)
class PatchesParams(Section):
    """The cubes cut around every candidate (``pipeline.data.patch_dataset``)."""

    SECTION = "patches"

    cube_mm: float = bounds(0, lo_open=True)
    merge_distance_mm: float = bounds(0)
    jobs: int = bounds(1)


@dataclass(frozen=True)
class CvParams(Section):
    """Patient-level k-fold cross-validation (LUNA16 protocol): folds, inner validation."""

    SECTION = "cv"

    folds: int = bounds(2)
    fold_ids: tuple[int, ...] = bounds(0)
    seed: int = bounds()
    inner_val: float = bounds(0, 0.5, lo_open=True)
    # patient: deal patients to folds (pipeline.data.folds); subset: the fold of a scan is its
    # LUNA16 subset number (the subsetN/ folder of a MetaImage input), as LUNA16's 10 folds
    folds_from: Literal["patient", "subset"] = "patient"

    def check(self, prefix: str) -> None:
        if tuple(self.fold_ids) != tuple(range(self.folds)):
            raise ConfigError(f"{prefix}.fold_ids must list 0..{self.folds - 1} (dvc.yaml runs "
                              f"one train stage per entry), got {list(self.fold_ids)}")
