"""List and validate the MetaImage volumes of a raw folder into ingest's series and rejected tables.

Where volumes are looked for (LUNA16's layout): headers (``.mhd``, ``.mha``) directly in the root
and directly in its ``subsetN/`` folders, in sorted order. Nothing else is read: other folders
(LUNA16's ``seg-lungs-LUNA16/`` holds lung masks with the same names) and other files (the CSV
tables) are counted as ignored; a data file (``.raw``, ``.zraw``) that no header names is a
rejected row. Every header is checked by :func:`pipeline.metaimage.header.read_volume_header`
(in parallel, headers only); a bad volume is a row of ``rejected`` with its reason, never an error.

The series table has ingest's DICOM columns (:data:`pipeline.dicom.validate.SERIES_COLUMNS`,
filled with what a MetaImage header says: ``n_slices, rows, columns`` are the z, y, x sizes, the
pixel spacings y and x, ``orientation`` the first two direction columns as ImageOrientationPatient
would give them, ``first_position`` the origin; no study, SOP class, transfer syntax or
manufacturer) plus ``format`` (``metaimage``) and ``subset`` (N of ``subsetN``, empty when none).
``files`` is the header's path relative to the root. LUNA16 releases no patient IDs, so
``patient_id`` is the ``seriesuid``: each scan counts as its own patient.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import INGEST_REJECTED, IngestResult, chunk_paths, reason_category
from pipeline.dicom.validate import INGEST_SERIES, join_numbers
from pipeline.errors import InputError
from pipeline.metaimage.header import (
    DATA_SUFFIXES,
    HEADER_SUFFIXES,
    SUBSET_FOLDER,
    VolumeHeader,
    parse_header_fields,
    read_volume_header,
)
from pipeline.parallel import ExecutorParams, map_items
from pipeline.tables import Table

log = logging.getLogger(__name__)

FORMAT = "metaimage"
#: ingest's ``series.csv`` for a MetaImage cohort: the DICOM columns plus ``format`` and ``subset``
INGEST_METAIMAGE_SERIES = Table("series.csv", "ingest (MetaImage)", (
    *INGEST_SERIES.columns, ("format", "text"), ("subset", "text")))
METAIMAGE_SERIES_COLUMNS: tuple[str, ...] = INGEST_METAIMAGE_SERIES.names


def volume_folders(root: Path) -> list[Path]:
    """The root and its ``subsetN/`` folders (sorted by N): where volumes are looked for."""
    subsets = []
    for entry in os.scandir(root):
        match = SUBSET_FOLDER.fullmatch(entry.name)
        if match and entry.is_dir():
            subsets.append((int(match.group(1)), entry.name))
    return [Path(root), *(Path(root) / name for _, name in sorted(subsets))]


def list_volume_files(root: Path) -> tuple[list[str], list[str], int]:
    """``(headers, data files, other files)`` of :func:`volume_folders`: relative ``/`` paths of
    ``.mhd``/``.mha`` headers and ``.raw``/``.zraw`` data files (sorted), and how many other
    entries (files, and folders that are not ``subsetN``) were left alone."""
    root = Path(root)
    headers: list[str] = []
    data: list[str] = []
    other = 0
    for folder in volume_folders(root):
        prefix = "" if folder == root else f"{folder.name}/"
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if folder == root and SUBSET_FOLDER.fullmatch(entry.name) and entry.is_dir():
                continue
            suffix = Path(entry.name).suffix.lower()
            if suffix in HEADER_SUFFIXES and not entry.is_dir():
                headers.append(prefix + entry.name)
            elif suffix in DATA_SUFFIXES and not entry.is_dir():
                data.append(prefix + entry.name)
            else:
                other += 1
    return headers, data, other


def _headers_chunk(job: tuple[str, tuple[str, ...], int]) -> list[VolumeHeader]:
    """Check the headers ``(root, relative paths, min_slices)``; a picklable task."""
    root, rels, min_slices = job
    return [read_volume_header(Path(root), rel, min_slices) for rel in rels]


def _named_data_files(root: Path, headers: list[str]) -> set[str]:
    """The data files the headers name (relative paths), for the orphan check."""
    named = set()
    for rel in headers:
        try:
            name = parse_header_fields(root / rel).get("ElementDataFile", "")
        except InputError:  # an unreadable header names nothing; its own row says why
            continue
        parent = Path(rel).parent.as_posix()
        named.add(name if parent == "." else f"{parent}/{name}")
    return named


def series_row(volume: VolumeHeader) -> dict[str, object]:
    """The series-table row of a usable volume (:data:`METAIMAGE_SERIES_COLUMNS`)."""
    if volume.size is None or volume.geometry is None:
        raise ValueError(f"{volume.path}: a rejected volume has no series row")
    geo, (nx, ny, nz) = volume.geometry, volume.size
    m = geo.matrix
    return {"series_uid": volume.series_uid, "patient_id": volume.series_uid, "study_uid": "",
            "modality": "", "sop_class_uid": "", "n_slices": nz, "rows": ny, "columns": nx,
            "pixel_spacing_row_mm": geo.spacing[1], "pixel_spacing_col_mm": geo.spacing[0],
            "slice_spacing_mm": geo.spacing[2],
            "orientation": join_numbers([*m[:, 0], *m[:, 1]]),
            "first_position": join_numbers(geo.origin), "transfer_syntax": "", "manufacturer": "",
            "files": volume.path, "format": FORMAT,
            "subset": "" if volume.subset is None else str(volume.subset)}


def scan_metaimage(root: Path, params: IngestParams, executor: ExecutorParams) -> IngestResult:
    """Every MetaImage volume of ``root`` checked into a series table and a rejected table.

    ``files_seen`` counts headers and data files; a duplicate ``seriesuid`` (the same file name
    in two subsets) keeps the first by path.

    Raises:
        InputError: when ``root`` is not a folder (per-volume problems never raise).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: expected a folder of MetaImage volumes, found none")
    headers, data_files, other = list_volume_files(root)
    if other:
        log.info("%d entries beside the volumes left alone (not .mhd/.mha/.raw, or folders that "
                 "are not subsetN)", other)
    jobs = [(str(root), chunk, params.min_slices) for chunk in chunk_paths(headers, executor.jobs)]
    volumes = [v for chunk in map_items(_headers_chunk, jobs, executor, desc="headers")
               for v in chunk]
    rejected: list[dict[str, str]] = []
    rows: list[dict[str, object]] = []
    first_of: dict[str, str] = {}
    for volume in volumes:
        if volume.reason:
            rejected.append({"path": volume.path, "series_uid": volume.series_uid,
                             "reason": volume.reason})
        elif volume.series_uid in first_of:
            rejected.append({"path": volume.path, "series_uid": volume.series_uid,
                             "reason": f"duplicate seriesuid: same file name as "
                                       f"{first_of[volume.series_uid]}"})
        else:
            first_of[volume.series_uid] = volume.path
            rows.append(series_row(volume))
    named = _named_data_files(root, headers)
    rejected += [{"path": rel, "series_uid": "",
                  "reason": "data file without header: no .mhd names it"}
                 for rel in data_files if rel not in named]
    series = INGEST_METAIMAGE_SERIES.frame(rows)
    series = series.sort_values("series_uid", kind="stable").reset_index(drop=True)
    table = INGEST_REJECTED.frame(rejected)
    table = table.sort_values(["series_uid", "path", "reason"], kind="stable")
    return IngestResult(series=series, rejected=table.reset_index(drop=True),
                        files_seen=len(headers) + len(data_files),
                        series_table=INGEST_METAIMAGE_SERIES)


def metaimage_metrics(result: IngestResult) -> dict[str, Any]:
    """Counts for ``reports/ingest.json`` of a MetaImage cohort (categories only, no UIDs)."""
    rej = result.rejected
    is_volume = rej["path"].astype(str).str.lower().str.endswith(HEADER_SUFFIXES)
    subsets = Counter(str(s) if str(s) else "none" for s in result.series["subset"])
    return {
        "format": FORMAT,
        "files_seen": int(result.files_seen),
        "volumes_kept": int(len(result.series)),
        "volumes_rejected": int(is_volume.sum()),
        "files_rejected": int((~is_volume).sum()),
        "rejected_by_reason": dict(sorted(Counter(reason_category(r)
                                                  for r in rej["reason"]).items())),
        "volumes_per_subset": dict(sorted(subsets.items())),
    }


def metaimage_scanner(params: IngestParams, executor: ExecutorParams
                      ) -> Callable[[Path], tuple[pd.DataFrame, pd.DataFrame]]:
    """``folder -> (series, rejected)`` of a plain folder of volumes (resample stand-alone)."""

    def scan(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = scan_metaimage(folder, params, executor)
        return result.series, result.rejected

    return scan
