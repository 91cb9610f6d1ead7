"""The fingerprint parts on disk: ``<folder>/{ingest,resample,patches}.json``, a baseline given as
a folder or one merged file, or the parts committed at a git ref (``git show``)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipeline.errors import InputError
from pipeline.io import read_json
from pipeline.records import Record

PARTS = ("ingest", "resample", "patches")


@dataclass(frozen=True)
class IngestPart(Record):
    """``ingest.json``, the ingest stage's fingerprint part: counts of the cohort's acquisition
    (no identifier)."""

    file: ClassVar[str] = "ingest.json"
    stage: ClassVar[str] = "ingest"

    kernels: dict[str, Any] | None
    manufacturers: dict[str, Any] | None
    matrix: dict[str, Any] | None
    patient_positions: dict[str, Any] | None
    pixel_spacing_mm: dict[str, Any] | None
    rejected: dict[str, Any] | None
    scanners: dict[str, Any] | None
    series: int
    slice_spacing_mm: dict[str, Any] | None
    slice_thickness_mm: dict[str, Any] | None
    slices_per_series: dict[str, Any] | None
    transfer_syntaxes: dict[str, Any] | None


@dataclass(frozen=True)
class ResamplePart(Record):
    """``resample.json``, the resample stage's fingerprint part: HU, sizes and lung volumes of
    the resampled scans."""

    file: ClassVar[str] = "resample.json"
    stage: ClassVar[str] = "resample"

    body_hu: dict[str, Any] | None
    lung_hu: dict[str, Any] | None
    lung_volume_ml: dict[str, Any] | None
    rejected: dict[str, Any] | None
    scans: int
    scans_without_lung: int
    spacing_mm: dict[str, Any] | None
    volume_mvoxels: dict[str, Any] | None
    volume_size: dict[str, Any] | None


@dataclass(frozen=True)
class PatchesPart(Record):
    """``patches.json``, the patches stage's fingerprint part: candidates and nodules of the cut
    cubes."""

    file: ClassVar[str] = "patches.json"
    stage: ClassVar[str] = "patches"

    candidates: int
    candidates_by_class: dict[str, Any] | None
    candidates_per_scan: dict[str, Any] | None
    nodule_diameter_mm: dict[str, Any] | None
    nodules: int
    nodules_by: dict[str, Any] | None
    nodules_per_scan: dict[str, Any] | None
    positives_per_scan: dict[str, Any] | None
    rejected: dict[str, Any] | None
    scans: int


#: part name -> its record
PART_RECORDS: dict[str, type[Record]] = {"ingest": IngestPart, "resample": ResamplePart,
                                         "patches": PatchesPart}


def write_part(path: str | Path, name: str, data: dict[str, Any]) -> None:
    """Write fingerprint part ``name`` (checked against its record) to ``path``."""
    PART_RECORDS[name].from_dict(data, str(path)).write(path)


def read_parts(folder: str | Path) -> dict[str, Any]:
    """``{"ingest": ..., "resample": ..., "patches": ...}`` from ``folder/<part>.json``.

    Raises:
        InputError: a part is missing.
    """
    folder = Path(folder)
    parts = {}
    for name in PARTS:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise InputError(f"{path}: fingerprint part not found (run the {name} stage)")
        parts[name] = PART_RECORDS[name].read(path).to_dict()
    return parts


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline fingerprint: a folder of parts, or one JSON file holding the parts by name."""
    path = Path(path)
    if path.is_dir():
        return read_parts(path)
    if not path.is_file():
        raise InputError(f"{path}: baseline fingerprint not found")
    data = read_json(path)
    missing = [p for p in PARTS if not isinstance(data, dict) or p not in data]
    if missing:
        raise InputError(f"{path}: expected a fingerprint with parts {list(PARTS)}, missing "
                         f"{missing} (or pass the folder of the parts)")
    return {p: data[p] for p in PARTS}


def read_parts_at_ref(ref: str, folder: str = "reports/fingerprint", repo: str | Path = "."
                      ) -> dict[str, Any]:
    """The parts committed at git ``ref`` (``git show REF:folder/<part>.json``).

    Raises:
        InputError: not a git repository, unknown ref, or a part not committed there.
    """
    parts = {}
    for name in PARTS:
        spec = f"{ref}:{folder.rstrip('/')}/{name}.json"
        try:
            proc = subprocess.run(["git", "show", spec], cwd=repo, capture_output=True,
                                  text=True, check=False)
        except OSError as exc:
            raise InputError(f"git show {spec}: cannot run git ({exc})") from None
        if proc.returncode != 0:
            raise InputError(f"git show {spec}: {proc.stderr.strip().splitlines()[-1:] or '?'}")
        parts[name] = json.loads(proc.stdout)
    return parts
