"""The ``generated`` candidates track: the generator's candidates as the patches stage's table.

LUNA16 has two tracks: classify the given candidates (false-positive reduction, ``provided``) or
find the nodules yourself (``generated``). In the generated track the patches stage cuts its cubes
around the candidates of the ``candidates`` stage (``data/processed/candidates/candidates.csv``)
instead of the anonymized ``candidates.csv``. Their labels are recomputed here against the
annotations with the LUNA16 hit rule (``pipeline.detection.labels``: centre strictly inside the
nodule's radius), so they always agree with the annotations the patches stage reads, whatever the
generator's file says. The generator's own sensitivity and candidates per scan, over every scan the
patches stage keeps, go to ``generator.json`` beside the cubes for ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from pipeline import tables
from pipeline.detection.labels import generator_metrics, label_candidates
from pipeline.errors import InputError
from pipeline.io import read_csv
from pipeline.records import Record

CandidateSource = Literal["provided", "generated"]
CANDIDATE_SOURCES: tuple[str, ...] = ("provided", "generated")
COORDS = list(tables.COORDS)
#: what the patches stage keeps of the generator's table (LUNA16 columns, plus its score)
GENERATED_COLUMNS = ["seriesuid", *COORDS, "class", "score"]


@dataclass(frozen=True)
class GeneratorRecord(Record):
    """``generator.json`` beside the cubes (the generated track only): the generator's
    sensitivity on the candidates the patches stage kept, and candidates per scan; ``by_type``
    (nodules, found, sensitivity per nodule type) when the annotations carry the types."""

    file: ClassVar[str] = "generator.json"
    stage: ClassVar[str] = "patches"

    source: str
    scans: int
    nodules: int
    nodules_found: int
    sensitivity: float | None
    candidates: int
    candidates_per_scan: float | None
    candidates_per_scan_max: int | None
    by_type: dict[str, Any] | None = None


GENERATOR_FILE = GeneratorRecord.file


def read_generated(path: Path, annotations: pd.DataFrame) -> pd.DataFrame:
    """The generator's candidates (``candidates`` stage CSV) labelled by the LUNA16 hit rule.

    Args:
        path: the candidates stage's ``candidates.csv`` (``seriesuid, coordX..Z, score``, ...).
        annotations: LUNA16 annotations (``seriesuid, coordX..Z, diameter_mm``).

    Returns:
        :data:`GENERATED_COLUMNS`, in the file's row order (its row number becomes the
        ``candidate_id`` of the patches stage). The generator's own ``class``, ``annotation_id``
        and ``diameter_mm`` (its blob scale) are replaced or dropped.

    Raises:
        InputError: the file is missing, lacks a column or holds a non-finite coordinate.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: generated candidates not found (run the candidates stage)")
    table = read_csv(path)
    missing = [c for c in ["seriesuid", *COORDS, "score"] if c not in table.columns]
    if missing:
        raise InputError(f"{path}: expected the candidates stage's columns, missing {missing}")
    values = table[[*COORDS, "score"]].to_numpy(dtype=np.float64)
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        raise InputError(f"{path}: row {row + 1}, column {[*COORDS, 'score'][col]}: "
                         f"not a finite number")
    base = table[["seriesuid", *COORDS, "score"]].assign(seriesuid=lambda f: f["seriesuid"]
                                                         .astype(str))
    labelled = label_candidates(base, annotations.reset_index(drop=True))
    return labelled[GENERATED_COLUMNS].reset_index(drop=True)


def generator_record(candidates: pd.DataFrame, annotations: pd.DataFrame,
                     scans: Iterable[str]) -> dict[str, Any]:
    """``generator.json``: the generator's sensitivity (by the hit rule, every nodule of ``scans``
    counted, found or not) and candidates per scan, on the candidates the patches stage kept."""
    return {"source": "generated", **generator_metrics(candidates, annotations, scans)}


def write_generator_record(patches_dir: Path, record: dict[str, Any]) -> None:
    """Write ``generator.json`` (checked against :class:`GeneratorRecord`)."""
    path = Path(patches_dir) / GENERATOR_FILE
    GeneratorRecord.from_dict(record, str(path)).write(path)


def read_generator_record(patches_dir: Path) -> dict[str, Any] | None:
    """The patches folder's ``generator.json`` (checked against :class:`GeneratorRecord`), or
    None (the provided track writes none)."""
    path = Path(patches_dir) / GENERATOR_FILE
    return GeneratorRecord.read(path).to_dict() if path.is_file() else None
