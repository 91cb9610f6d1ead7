"""Build the patches data set: one array of cubes, its index and data metrics.

The cubes do not depend on how patients are later assigned to folds (``pipeline.data.folds``), so
changing the cross-validation never re-cuts them.

Inputs: the resample output (``geometry.csv``, ``resample.json``, ``<uid>.nii.gz``) and the
anonymized ``candidates.csv`` / ``annotations.csv``. Outputs: docs/data-contracts.md, "patches".

Memory: each worker reads one volume and writes its series' rows straight into ``cubes.npy``, so
memory is bounded by one volume and a small buffer per worker, not by the cohort, and no cube
travels between processes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from pipeline.data.candidates import (
    ANNOTATION_COLUMNS,
    CANDIDATE_COLUMNS,
    COORDS,
    match_annotations,
    merge_candidates,
    prepare_table,
)
from pipeline.data.disk_budget import DiskBudget, check_free_space, gigabytes
from pipeline.data.generated import generator_record, read_generated, write_generator_record
from pipeline.data.patches_format import (
    CUBES_FILE,
    INDEX_COLUMNS,
    PAD_HU,
    REJECTED_COLUMNS,
    Preprocess,
    create_cubes,
    write_patches_tables,
)
from pipeline.data.patches_params import PatchesParams
from pipeline.errors import PipelineError
from pipeline.imaging.geometry import Geometry
from pipeline.imaging.patches import AXES, cube_size, extract_cubes, inside_volume
from pipeline.imaging.volume_table import (
    GEOMETRY,
    ResampleRecord,
    geometry_from_row,
    shape_from_row,
)
from pipeline.io import read_csv
from pipeline.parallel import ExecutorParams, map_items

log = logging.getLogger(__name__)

CHUNK_CANDIDATES = 256


@dataclass(frozen=True)
class PatchTask:
    """One series: its volume, the world centres of its candidates, where their rows go."""

    volume_path: str
    npy_path: str
    data_offset: int
    row_start: int
    centers_world_mm: np.ndarray
    size: int


@dataclass(frozen=True)
class PatchesResult:
    """Tables of the patches stage (the arrays are already written)."""

    index: pd.DataFrame
    annotations: pd.DataFrame
    rejected: pd.DataFrame
    excluded: pd.DataFrame             # LUNA16 annotations_excluded.csv rows of kept series
    preprocess: Preprocess
    metrics: dict[str, Any]
    generator: dict[str, Any] | None = None  # generator.json (the generated track only)


def extract_series(task: PatchTask) -> int:
    """Worker: read one volume, write its cubes into its rows of ``cubes.npy``.

    Cubes are cut in chunks of ``CHUNK_CANDIDATES`` into one reused buffer and written with
    ``os.pwrite`` at their rows' offset (no memory-mapped page faults, no cube sent between
    processes). Series own disjoint row ranges, so workers never write the same bytes. Returns
    the number of cubes written.
    """
    image = sitk.ReadImage(task.volume_path)
    volume, geometry = sitk.GetArrayViewFromImage(image), Geometry.from_sitk(image)
    n = len(task.centers_world_mm)
    cube_bytes = task.size**3 * np.dtype(np.int16).itemsize
    buffer = np.empty((min(n, CHUNK_CANDIDATES),) + (task.size,) * 3, dtype=np.int16)
    fd = os.open(task.npy_path, os.O_WRONLY)
    try:
        for start in range(0, n, CHUNK_CANDIDATES):
            k = min(CHUNK_CANDIDATES, n - start)
            extract_cubes(volume, geometry, task.centers_world_mm[start:start + k], task.size,
                          PAD_HU, out=buffer[:k])
            data = memoryview(buffer[:k].data).cast("B")
            offset = task.data_offset + (task.row_start + start) * cube_bytes
            while len(data):
                written = os.pwrite(fd, data, offset)
                data, offset = data[written:], offset + written
    finally:
        os.close(fd)
    return n


def preprocess_record(resample: ResampleRecord, params: PatchesParams) -> Preprocess:
    """``preprocess.json``: how the cubes were cut (training adds its HU window and slice size)."""
    return Preprocess(spacing_mm=resample.spacing_mm,
                      cube_size=cube_size(params.cube_mm, resample.spacing_mm),
                      hu_range=resample.hu_range, interpolator=resample.interpolator,
                      anti_alias=resample.anti_alias, pad_hu=PAD_HU, axes=AXES)


def _reject(frame: pd.DataFrame, reason: str | list[str]) -> pd.DataFrame:
    out = frame.rename(columns={"seriesuid": "series_uid", "class": "label"})
    out = out.reindex(columns=REJECTED_COLUMNS[:-1])
    out["reason"] = reason
    return out


def _spacing_problems(geometry: pd.DataFrame, spacing_mm: float) -> dict[str, str]:
    problems = {}
    for row in geometry.itertuples(index=False):
        spacing = (row.spacing_x, row.spacing_y, row.spacing_z)
        if not np.allclose(spacing, spacing_mm, rtol=1e-4):
            problems[row.series_uid] = (f"volume spacing {spacing} mm differs from resample "
                                        f"spacing_mm {spacing_mm}")
    return problems


def _outside(candidates: pd.DataFrame, geometry: pd.DataFrame) -> pd.Series:
    """Reason per candidate whose centre is outside its volume ('' when inside)."""
    reasons = pd.Series("", index=candidates.index, dtype=object)
    rows = geometry.set_index("series_uid")
    for uid, group in candidates.groupby("seriesuid", sort=True):
        row = rows.loc[uid]
        geo = geometry_from_row(row)
        shape = shape_from_row(row)
        points = group[COORDS].to_numpy()
        inside = inside_volume(shape, geo, points)
        voxels = geo.world_to_voxel(points)
        for idx, ok, vox in zip(group.index, inside, voxels, strict=True):
            if not ok:
                reasons[idx] = (f"outside the volume: voxel (z, y, x) "
                                f"({vox[0]:.1f}, {vox[1]:.1f}, {vox[2]:.1f}) not within "
                                f"shape {shape}")
    return reasons


def select_candidates(candidates: pd.DataFrame, geometry: pd.DataFrame, spacing_mm: float,
                      merge_distance_mm: float) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Kept candidates, rejected rows with reasons, and the number removed by merging."""
    known = set(geometry["series_uid"])
    missing = ~candidates["seriesuid"].isin(known)
    rejected = [_reject(candidates[missing], "series missing from the volumes (not resampled)")]
    kept = candidates[~missing]
    problems = _spacing_problems(geometry, spacing_mm)
    bad_spacing = kept["seriesuid"].isin(problems)
    if bad_spacing.any():
        rejected.append(_reject(kept[bad_spacing],
                                [problems[u] for u in kept.loc[bad_spacing, "seriesuid"]]))
    kept = kept[~bad_spacing]
    before = len(kept)
    kept = merge_candidates(kept, merge_distance_mm)
    n_merged_away = before - len(kept)
    reasons = _outside(kept, geometry)
    outside = reasons != ""
    rejected.append(_reject(kept[outside], list(reasons[outside])))
    kept = kept[~outside].sort_values(["seriesuid", "candidate_id"], kind="stable")
    rej = pd.concat([r for r in rejected if len(r)], ignore_index=True) if any(
        len(r) for r in rejected) else pd.DataFrame(columns=REJECTED_COLUMNS)
    rej = rej.sort_values(["series_uid", "candidate_id"], kind="stable").reset_index(drop=True)
    return kept.reset_index(drop=True), rej, n_merged_away


def build_index(kept: pd.DataFrame, geometry: pd.DataFrame) -> pd.DataFrame:
    """``index.csv`` rows: row in ``cubes.npy``, ids, coordinates, label (series, then id order)."""
    patient_of = dict(zip(geometry["series_uid"], geometry["patient_id"], strict=True))
    index = pd.DataFrame({
        "series_uid": kept["seriesuid"].to_numpy(),
        "patient_id": [patient_of[u] for u in kept["seriesuid"]],
        "candidate_id": kept["candidate_id"].to_numpy(),
        **{c: kept[c].to_numpy() for c in COORDS},
        "label": kept["class"].astype(np.int64).to_numpy(),
        "diameter_mm": kept["diameter_mm"].to_numpy(),
        "annotation_id": kept["annotation_id"].astype("Int64").array,
    })
    index = index.sort_values(["series_uid", "candidate_id"], kind="stable")
    index["row"] = np.arange(len(index), dtype=np.int64)
    return index.reindex(columns=INDEX_COLUMNS).reset_index(drop=True)


def write_cube_array(index: pd.DataFrame, volumes_dir: Path, geometry: pd.DataFrame,
                     output_dir: Path, size: int, executor: ExecutorParams) -> None:
    """Create ``cubes.npy`` and let one worker per series fill its rows in place."""
    path = output_dir / CUBES_FILE
    array = create_cubes(path, len(index), size)  # header + zero-filled (sparse) data
    offset = int(array.offset) if len(index) else 0
    del array  # never mapped into memory here
    files = dict(zip(geometry["series_uid"], geometry["file"], strict=True))
    tasks = []
    for uid, group in index.groupby("series_uid", sort=True):
        rows = group["row"].to_numpy()
        if not np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            raise PipelineError(f"series {uid}: expected contiguous rows in {CUBES_FILE}")
        tasks.append(PatchTask(volume_path=str(volumes_dir / files[uid]), npy_path=str(path),
                               data_offset=offset, row_start=int(rows[0]),
                               centers_world_mm=group[COORDS].to_numpy(), size=size))
    map_items(extract_series, tasks, executor, desc="patches")


def _stats(values: pd.Series) -> dict[str, float]:
    if values.empty:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    return {k: round(float(f(values)), 6) for k, f in
            (("min", np.min), ("median", np.median), ("max", np.max))}


def data_metrics(index: pd.DataFrame, geometry: pd.DataFrame, rejected: pd.DataFrame,
                 n_merged_away: int, size: int) -> dict[str, Any]:
    """``metrics/data.json``: cohort counts and spacing statistics of the original series."""
    return {
        "patients": int(geometry["patient_id"].nunique()),
        "series": len(geometry),
        "candidates": len(index),
        "positives": int((index["label"] == 1).sum()),
        "rejected_candidates": len(rejected),
        "merged_candidates": int(n_merged_away),
        "cube_size": size,
        "orig_slice_spacing_mm": _stats(geometry["orig_spacing_z"]),
        "orig_pixel_spacing_mm": _stats(pd.concat([geometry["orig_spacing_x"],
                                                    geometry["orig_spacing_y"]])),
    }


def build_patches(volumes_dir: Path, tables_dir: Path, output_dir: Path, params: PatchesParams,
                  executor: ExecutorParams, generated_csv: Path | None = None) -> PatchesResult:
    """Select candidates, label them, write ``cubes.npy`` into ``output_dir``.

    ``generated_csv``: the candidates stage's table, used instead of ``tables_dir/candidates.csv``
    and labelled by the hit rule (the generated track, ``pipeline.data.generated``)."""
    volumes_dir, tables_dir, output_dir = Path(volumes_dir), Path(tables_dir), Path(output_dir)
    table_csv = tables_dir / "candidates.csv" if generated_csv is None else Path(generated_csv)
    for path in (volumes_dir / "geometry.csv", volumes_dir / "resample.json",
                 table_csv, tables_dir / "annotations.csv"):
        if not path.is_file():
            raise PipelineError(f"{path}: expected this input of the patches stage, not found")
    geometry = GEOMETRY.read(volumes_dir / GEOMETRY.file)
    preprocess = preprocess_record(ResampleRecord.read(volumes_dir / ResampleRecord.file), params)
    size = preprocess.cube_size
    annotations = prepare_table(read_csv(tables_dir / "annotations.csv"), ANNOTATION_COLUMNS,
                                "annotation_id", str(tables_dir / "annotations.csv"))
    raw = read_csv(table_csv) if generated_csv is None else read_generated(table_csv, annotations)
    candidates = prepare_table(raw, CANDIDATE_COLUMNS, "candidate_id", str(table_csv))
    kept, rejected, n_merged = select_candidates(candidates, geometry, preprocess.spacing_mm,
                                                 params.merge_distance_mm)
    kept = match_annotations(kept, annotations)
    patient_of = dict(zip(geometry["series_uid"], geometry["patient_id"], strict=True))
    index = build_index(kept, geometry)
    output_dir.mkdir(parents=True, exist_ok=True)
    budget = DiskBudget(rows=len(index), cube_size=size)
    free = check_free_space(budget, output_dir)
    log.info("patches will take %s on disk; %s free in %s", budget.describe(), gigabytes(free),
             output_dir)
    write_cube_array(index, volumes_dir, geometry, output_dir, size, executor)
    nodules = annotations[annotations["seriesuid"].isin(set(geometry["series_uid"]))].copy()
    nodules["patient_id"] = [patient_of[u] for u in nodules["seriesuid"]]
    nodules = nodules.sort_values(["seriesuid", "annotation_id"], kind="stable")
    nodules = nodules.reindex(columns=[*ANNOTATION_COLUMNS, "annotation_id", "patient_id"])
    excluded_path = tables_dir / "annotations_excluded.csv"
    excluded = read_csv(excluded_path, dtype={"seriesuid": str}) if excluded_path.is_file() \
        else pd.DataFrame(columns=ANNOTATION_COLUMNS)
    missing = [c for c in ANNOTATION_COLUMNS if c not in excluded.columns]
    if missing:
        raise PipelineError(f"{excluded_path}: expected columns {ANNOTATION_COLUMNS}, "
                            f"missing {missing}")
    excluded = excluded[excluded["seriesuid"].isin(set(geometry["series_uid"]))]
    excluded = excluded.sort_values(["seriesuid", *COORDS], kind="stable")[ANNOTATION_COLUMNS]
    metrics = data_metrics(index, geometry, rejected, n_merged, size)
    metrics["excluded_findings"] = len(excluded)
    generator = None if generated_csv is None else generator_record(
        kept, annotations, geometry["series_uid"].astype(str))
    log.info("%d candidates kept, %d rejected, %d merged away", len(index), len(rejected), n_merged)
    return PatchesResult(index=index, annotations=nodules.reset_index(drop=True),
                         rejected=rejected, excluded=excluded.reset_index(drop=True),
                         preprocess=preprocess, metrics=metrics, generator=generator)


def write_patch_tables(output_dir: Path, result: PatchesResult) -> None:
    """Write ``index.csv``, ``annotations.csv``, ``rejected.csv`` and ``preprocess.json`` beside
    ``cubes.npy`` (the metrics go where the caller says)."""
    write_patches_tables(output_dir, result.index, result.annotations, result.rejected,
                         result.excluded, result.preprocess)
    if result.generator is not None:
        write_generator_record(output_dir, result.generator)
