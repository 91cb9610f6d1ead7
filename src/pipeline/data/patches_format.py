"""The patches folder's format (docs/data-contracts.md, "patches"): its files and their writer.

``cubes.npy`` (int16 HU ``(N, C, C, C)``, row ``i`` = row ``i`` of ``index.csv``), ``index.csv``,
``annotations.csv``, ``annotations_excluded.csv``, ``rejected.csv`` and ``preprocess.json``. The
patches stage (:mod:`pipeline.data.patches`) and the toy folder of the tests
(:mod:`pipeline.data.toy_patches`) write them through :func:`create_cubes` and
:func:`write_patches_tables`; training, evaluation and export read them. This module is light
(no imaging), so what reads the format does not depend on how the cubes are cut.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.hu import AIR_HU
from pipeline.records import Record
from pipeline.tables import COORDS, LUNA_ANNOTATIONS, LUNA_EXCLUDED, Kind, Table

PAD_HU = AIR_HU
CUBES_FILE = "cubes.npy"
_XYZ: tuple[tuple[str, Kind], ...] = tuple((c, "number") for c in COORDS)
#: ``index.csv``: one row per cube of ``cubes.npy`` (``row``); ids are text (``annotation_id``
#: empty for a candidate that hits no nodule).
PATCH_INDEX = Table("index.csv", "patches", (
    ("row", "int"), ("series_uid", "uid"), ("patient_id", "uid"), ("candidate_id", "text"),
    *_XYZ, ("label", "class"), ("diameter_mm", "optional"), ("annotation_id", "text")),
    float_format="%.6f")
#: ``rejected.csv``: candidates not cut (centre outside the volume, series missing)
PATCH_REJECTED = Table("rejected.csv", "patches", (
    ("series_uid", "uid"), ("candidate_id", "text"), *_XYZ, ("label", "class"),
    ("reason", "text")), float_format="%.6f")
#: ``annotations.csv``: the nodules of the kept scans, for FROC
PATCH_ANNOTATIONS = Table("annotations.csv", "patches", (
    *LUNA_ANNOTATIONS.columns, ("annotation_id", "text"), ("patient_id", "uid")),
    float_format="%.6f")
#: ``annotations_excluded.csv``: LUNA16's excluded findings of the kept scans
PATCH_EXCLUDED = replace(LUNA_EXCLUDED, stage="patches", float_format="%.6f", user_input=False)
INDEX_COLUMNS = list(PATCH_INDEX.names)
REJECTED_COLUMNS = list(PATCH_REJECTED.names)


@dataclass(frozen=True)
class Preprocess(Record):
    """``preprocess.json``: how the cubes were cut (training adds its HU window and slice size
    to the checkpoint's copy)."""

    file: ClassVar[str] = "preprocess.json"
    stage: ClassVar[str] = "patches"

    spacing_mm: float
    cube_size: int
    hu_range: tuple[float, float]
    interpolator: str
    anti_alias: bool
    pad_hu: float
    axes: str


def create_cubes(path: str | Path, rows: int, size: int) -> np.memmap:
    """Create ``cubes.npy`` for ``rows`` cubes of ``size`` ** 3 voxels (header + zero-filled,
    sparse data) and return it memory-mapped for writing."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.int16,
                                     shape=(rows, size, size, size))


def write_patches_tables(output_dir: str | Path, index: pd.DataFrame, annotations: pd.DataFrame,
                         rejected: pd.DataFrame, excluded: pd.DataFrame, preprocess: Preprocess
                         ) -> None:
    """Write ``index.csv``, ``annotations.csv``, ``rejected.csv``, ``annotations_excluded.csv``
    and ``preprocess.json`` into ``output_dir``, each through its contract (atomic files)."""
    output_dir = Path(output_dir)
    for table, frame in ((PATCH_INDEX, index), (PATCH_ANNOTATIONS, annotations),
                         (PATCH_REJECTED, rejected), (PATCH_EXCLUDED, excluded)):
        table.write(output_dir / table.file, frame)
    preprocess.write(output_dir / Preprocess.file)
