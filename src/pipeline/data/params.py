"""``data:`` of ``params.yaml``: where the raw cohort comes from and which track it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import Section


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
