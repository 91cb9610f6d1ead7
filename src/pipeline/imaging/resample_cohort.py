"""Resample a cohort of de-identified series: one ``.nii.gz`` per series plus a geometry table.

Memory stays bounded by one or two volumes: each worker reads one series, resamples it, writes the
volume (and lung mask) itself and returns only a small row. Layout: docs/data-contracts.md.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from pipeline.errors import InputError, PipelineError, SeriesValidationError
from pipeline.imaging.lung import lung_mask
from pipeline.imaging.params import ResampleParams
from pipeline.imaging.resample import read_image_hu, read_series_hu, resample_image, write_volume
from pipeline.imaging.volume_table import GEOMETRY, ResampleRecord, format_direction
from pipeline.parallel import ExecutorParams, map_items
from pipeline.tables import ANONYMIZED_SERIES, REJECTED_FILE_COLUMNS, Table

log = logging.getLogger(__name__)

#: resample's ``rejected.csv``: the series it could not use (ingest's rejects when it scanned).
RESAMPLED_REJECTED = Table("rejected.csv", "resample", REJECTED_FILE_COLUMNS)
REJECTED_COLUMNS = list(RESAMPLED_REJECTED.names)
_SAFE_UID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class ResampleTask:
    """One series to resample: absolute files in stack order and where to write."""

    series_uid: str
    patient_id: str
    files: tuple[str, ...]
    output_dir: str
    params: ResampleParams
    format: str = "dicom"   # metaimage: ``files`` is one .mhd/.mha volume


@dataclass(frozen=True)
class ResampleResult:
    """The geometry table (one row per volume written), the rejected table and the wall time."""

    geometry: pd.DataFrame
    rejected: pd.DataFrame
    seconds: float


def resample_series(task: ResampleTask) -> dict[str, Any]:
    """Worker: read, resample, write one series; return its geometry row or a rejected row.

    A rejected row has the key ``reason``; it never raises for a bad series.
    """
    try:
        if not _SAFE_UID.fullmatch(task.series_uid):
            raise SeriesValidationError(f"series {task.series_uid!r}: expected a UID usable as a "
                                        "file name (letters, digits, '.', '_', '-')")
        if task.format not in ("dicom", "metaimage"):
            raise SeriesValidationError(f"series {task.series_uid}: unknown format "
                                        f"{task.format!r} (expected dicom or metaimage)")
        if task.format == "metaimage":
            if len(task.files) != 1:
                raise SeriesValidationError(f"series {task.series_uid}: expected one MetaImage "
                                            f"file, got {len(task.files)}")
            image = read_image_hu(Path(task.files[0]))
        else:
            image = read_series_hu([Path(f) for f in task.files])
        if image.GetDimension() != 3:
            raise SeriesValidationError(f"series {task.series_uid}: expected a 3D volume, got "
                                        f"{image.GetDimension()}D")
        volume = resample_image(image, **task.params.resample_args())
    except (PipelineError, RuntimeError, ValueError) as exc:
        log.warning("series %s rejected: %s", task.series_uid, exc)
        return {"path": "", "series_uid": task.series_uid, "reason": str(exc)}
    out_dir = Path(task.output_dir)
    name = f"{task.series_uid}.nii.gz"
    write_volume(volume, out_dir / name)
    lung_name = ""
    if task.params.lung_mask:
        mask = sitk.GetImageFromArray(lung_mask(sitk.GetArrayViewFromImage(volume)))
        mask.CopyInformation(volume)
        lung_name = f"{task.series_uid}_lung.nii.gz"
        write_volume(mask, out_dir / lung_name)
    values = sitk.GetArrayViewFromImage(volume)
    row: dict[str, Any] = {"series_uid": task.series_uid, "patient_id": task.patient_id,
                           "file": name, "lung_file": lung_name}
    for prefix, img in (("orig_", image), ("", volume)):
        for axis, spacing, size in zip("xyz", img.GetSpacing(), img.GetSize(), strict=True):
            row[f"{prefix}spacing_{axis}"] = float(spacing)
            row[f"{prefix}size_{axis}"] = int(size)
    for axis, value in zip("xyz", volume.GetOrigin(), strict=True):
        row[f"origin_{axis}"] = float(value)
    row["direction"] = format_direction(volume.GetDirection())
    row["hu_min"], row["hu_max"] = int(np.min(values)), int(np.max(values))
    return row


#: ``folder -> (series table, rejected table)``: how a folder without ``series.csv`` is grouped
#: and validated (the stage passes the ingest code, ``pipeline.dicom.scan.scan_folder``; imaging
#: sits below dicom and does not import it).
Scanner = Callable[[Path], tuple[pd.DataFrame, pd.DataFrame]]


def load_series_table(input_dir: Path, scan: Scanner | None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``series_uid, patient_id, files`` of ``input_dir`` and the series rejected by ingest.

    Uses ``input_dir/series.csv`` (the anonymize output) when present, else ``scan``.
    """
    table = input_dir / ANONYMIZED_SERIES.file
    if table.is_file():
        series = ANONYMIZED_SERIES.read(table)
        rejected = RESAMPLED_REJECTED.frame()
    else:
        if scan is None:
            raise PipelineError(f"{input_dir}: no series.csv and no way to scan the folder")
        series, rejected = scan(input_dir)
        rejected = rejected.reindex(columns=REJECTED_COLUMNS).fillna("")
    missing = {"series_uid", "patient_id", "files"} - set(series.columns)
    if missing:
        raise PipelineError(f"{table}: expected columns series_uid, patient_id, files; missing "
                            f"{sorted(missing)}")
    series = series.astype({"series_uid": str, "patient_id": str, "files": str})
    if "format" in series.columns:  # MetaImage tables (pipeline.metaimage) name their format
        series["format"] = series["format"].fillna("dicom").astype(str)
    return series.sort_values("series_uid", kind="stable").reset_index(drop=True), rejected


def resample_cohort(input_dir: Path, output_dir: Path, params: ResampleParams,
                    executor: ExecutorParams, scan: Scanner | None = None,
                    raw_root: Path | None = None) -> ResampleResult:
    """Resample every series of ``input_dir`` into ``output_dir``; the tables are returned.

    DICOM ``files`` are relative to ``input_dir``; MetaImage ones (a ``format`` column saying
    ``metaimage``) to ``raw_root`` (the raw folder, ``data.dicom_dir``), else ``input_dir``.

    Raises:
        InputError: ``input_dir`` is missing or empty (checked before anything is written).
    """
    start = time.perf_counter()
    if not Path(input_dir).is_dir() or not any(Path(input_dir).iterdir()):
        raise InputError(f"{input_dir}: expected a de-identified DICOM folder, found "
                         f"{'an empty folder' if Path(input_dir).is_dir() else 'nothing'}")
    series, rejected = load_series_table(Path(input_dir), scan)
    duplicated = series["series_uid"].duplicated(keep="first")
    dup_rows = [{"path": "", "series_uid": uid, "reason": "duplicate series_uid in series table"}
                for uid in series.loc[duplicated, "series_uid"]]
    series = series.loc[~duplicated]
    formats = series["format"] if "format" in series.columns else ["dicom"] * len(series)
    roots = {"dicom": Path(input_dir), "metaimage": Path(raw_root or input_dir)}
    tasks = [ResampleTask(series_uid=r.series_uid, patient_id=r.patient_id,
                          files=tuple(str(roots.get(fmt, Path(input_dir)) / f)
                                      for f in r.files.split("|") if f),
                          output_dir=str(output_dir), params=params, format=fmt)
             for r, fmt in zip(series.itertuples(index=False), formats, strict=True)]
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    rows = map_items(resample_series, tasks, executor, desc="resample")
    good = [r for r in rows if "reason" not in r]
    bad = [r for r in rows if "reason" in r]
    geometry = GEOMETRY.frame(good)
    rejected = pd.concat([rejected, RESAMPLED_REJECTED.frame(dup_rows + bad)],
                         ignore_index=True) if dup_rows or bad else rejected
    rejected = rejected.sort_values(["series_uid", "path"], kind="stable").reset_index(drop=True)
    return ResampleResult(geometry=geometry, rejected=rejected,
                          seconds=time.perf_counter() - start)


def resample_record(params: ResampleParams) -> ResampleRecord:
    """``resample.json`` of volumes made with ``params``."""
    return ResampleRecord(spacing_mm=params.spacing_mm, interpolator=params.interpolator,
                          hu_range=params.hu_range, anti_alias=params.anti_alias,
                          lung_mask=params.lung_mask)


def resample_provenance(params: ResampleParams) -> dict[str, Any]:
    """What the volumes were made with (``resample.json``), read back by the patches stage."""
    return resample_record(params).to_dict()


def write_resample_tables(output_dir: Path, report: ResampleResult, params: ResampleParams
                          ) -> None:
    """Write ``geometry.csv``, ``rejected.csv`` and ``resample.json`` beside the volumes."""
    GEOMETRY.write(output_dir / GEOMETRY.file, report.geometry)
    RESAMPLED_REJECTED.write(output_dir / RESAMPLED_REJECTED.file, report.rejected)
    resample_record(params).write(output_dir / ResampleRecord.file)
