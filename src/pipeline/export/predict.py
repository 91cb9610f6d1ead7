"""Score candidates on a new DICOM folder with an exported model, without PyTorch.

The path is the pipeline's own, step for step: ``scan_folder`` (ingest's grouping and checks) ->
``read_series_hu`` -> ``resample_image`` -> ``extract_cubes`` -> ``model_inputs`` -> ONNX Runtime,
with the preprocessing read from the model's metadata. Every candidate comes back with a
``status`` and, when it could not be scored, a ``reason``; a folder that cannot be used at all
raises, so the CLI can exit with a message.

Two entry points: ``predict_folder`` scores given candidates (LUNA16 CSV); ``detect_folder``
finds them itself on every usable series (``pipeline.detection``), scores them, and keeps what
the report (``pipeline.report``) needs: the resampled volume and the source headers.

Nothing in this module (or what it imports) may import torch: tests check it in a fresh interpreter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from pipeline.data.inputs import model_inputs
from pipeline.detection.candidates import generate_candidates
from pipeline.detection.params import CandidateParams, default_candidate_params
from pipeline.dicom.params import IngestParams
from pipeline.errors import ConfigError, DicomReadError, PipelineError, SeriesValidationError
from pipeline.export.metadata import ModelMetadata
from pipeline.export.runtime import open_session, predict_proba, session_metadata
from pipeline.fingerprint.acquisition import series_facts
from pipeline.fingerprint.shift import read_model_ranges, series_shift
from pipeline.imaging.geometry import Geometry
from pipeline.imaging.patches import extract_cubes
from pipeline.imaging.resample import read_series_hu, resample_image
from pipeline.parallel import ExecutorParams

log = logging.getLogger(__name__)

COORDS = ("coordX", "coordY", "coordZ")
STEPS = ("scan", "read", "resample", "patch", "inference")
DETECT_STEPS = ("scan", "read", "resample", "candidates", "patch", "inference")
# status values; every status but "scored" comes with a reason
SCORED, OUTSIDE, REJECTED, NOT_FOUND, READ_ERROR, BAD_COORDS, NO_CANDIDATES = (
    "scored", "outside_volume", "series_rejected", "series_not_found", "read_error",
    "bad_coordinates", "no_candidates")
DETECT_COLUMNS = ["seriesuid", *COORDS, "probability", "prediction", "diameter_mm", "status",
                  "reason"]



def default_ingest_params() -> IngestParams:
    """The ingest checks of the repository's ``params.yaml`` (one job), for use without it."""
    return IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                        allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)


@dataclass
class PredictResult:
    """The candidates with ``probability``, ``prediction``, ``status``, ``reason`` columns."""

    table: pd.DataFrame
    series_scored: int
    timings_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))


def resample_as_trained(image: sitk.Image, preprocess: Mapping[str, Any]) -> sitk.Image:
    """``image`` resampled as the model's training data was (its preprocess metadata)."""
    return resample_image(image, float(preprocess["spacing_mm"]), str(preprocess["interpolator"]),
                          tuple(preprocess["hu_range"]),
                          bool(preprocess.get("anti_alias", True)))


def series_inputs(files: list[Path], centers_world_mm: np.ndarray, meta: ModelMetadata,
                  timings_s: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs for candidates of one series, prepared exactly as in training.

    Args:
        files: the series' DICOM files in stack order (as ingest lists them).
        centers_world_mm: ``(N, 3)`` world ``(x, y, z)`` mm (LPS).
        meta: the model's metadata (preprocessing, input kind).
        timings_s: if given, seconds spent in read / resample / patch are added to it.

    Returns:
        inputs ``(M, ...)`` float32 for the M candidates inside the volume, and the ``(N,)`` mask.
    """
    t = timings_s if timings_s is not None else {}
    t0 = time.perf_counter()
    image = read_series_hu(files)
    t1 = time.perf_counter()
    volume = resample_as_trained(image, meta.preprocess)
    t2 = time.perf_counter()
    cubes, inside = extract_cubes(sitk.GetArrayViewFromImage(volume), Geometry.from_sitk(volume),
                                  centers_world_mm, int(meta.preprocess["cube_size"]))
    inputs = model_inputs(cubes[inside], meta.input_kind, meta.preprocess)
    t3 = time.perf_counter()
    for key, dt in (("read", t1 - t0), ("resample", t2 - t1), ("patch", t3 - t2)):
        t[key] = t.get(key, 0.0) + dt
    return inputs, inside


def assign_series(candidates: pd.DataFrame, series_uids: list[str], source: str) -> pd.Series:
    """The series UID of each candidate: its ``seriesuid``, or the folder's only series.

    Raises:
        ConfigError: when candidates lack coordinates, or name no series while the folder holds
            several.
    """
    missing = [c for c in COORDS if c not in candidates.columns]
    if missing:
        raise ConfigError(f"{source}: expected columns {list(COORDS)} (world mm, LUNA16), missing "
                          f"{missing}; got {list(candidates.columns)}")
    if "seriesuid" in candidates.columns:
        uids = candidates["seriesuid"].astype("string").str.strip()
        empty = uids.isna() | (uids == "")
    else:
        uids = pd.Series(pd.NA, index=candidates.index, dtype="string")
        empty = pd.Series(True, index=candidates.index)
    if empty.any():
        if len(series_uids) != 1:
            raise ConfigError(
                f"{source}: {int(empty.sum())} candidate(s) name no seriesuid but the folder holds "
                f"{len(series_uids)} usable series; add a seriesuid column (one of: "
                f"{', '.join(series_uids[:5])}{', ...' if len(series_uids) > 5 else ''})")
        uids = uids.mask(empty, series_uids[0])
    return uids.astype(str)


def _rejection_reasons(rejected: pd.DataFrame) -> dict[str, str]:
    if rejected.empty or "series_uid" not in rejected.columns:
        return {}
    rows = rejected.dropna(subset=["series_uid"])
    rows = rows[rows["series_uid"].astype(str) != ""]
    return {str(uid): "; ".join(sorted(set(group["reason"].astype(str))))
            for uid, group in rows.groupby("series_uid", sort=True)}


def _unusable_folder(root: Path, files_seen: int, rejected: pd.DataFrame) -> PipelineError:
    if files_seen == 0:
        return DicomReadError(f"{root}: no files found")
    reasons = _rejection_reasons(rejected)
    if not reasons:
        return DicomReadError(f"{root}: no DICOM series found among {files_seen} files")
    summary = "; ".join(f"{uid}: {why}" for uid, why in list(reasons.items())[:3])
    return SeriesValidationError(f"{root}: no usable CT series among {files_seen} files "
                                 f"({len(reasons)} rejected: {summary})")


def series_shifts(model: str | Path | bytes, root: Path, series: pd.DataFrame
                  ) -> dict[str, str] | None:
    """``{series_uid: why it lies outside the training data}`` ("" inside) for the usable series,
    from the ranges shipped beside the model (``<model>.fingerprint.json``, written by export);
    None when the model has none. One warning line per series outside; silent inside."""
    shipped = None if isinstance(model, bytes) else read_model_ranges(model)
    if shipped is None:
        return None
    ranges, params = shipped
    out = {}
    for row in series.to_dict("records"):
        found = "; ".join(series_shift(series_facts(row, root), ranges, params))
        if found:
            log.warning("series %s lies outside the training data: %s", row["series_uid"], found)
        out[str(row["series_uid"])] = found
    return out


def _open_folder(dicom_dir: str | Path, model: str | Path | bytes,
                 ingest: IngestParams | None, executor: ExecutorParams | None,
                 steps: Sequence[str]) -> tuple[Path, Any, ModelMetadata, Any, dict[str, float]]:
    """Open the model and scan the folder with the ingest checks: what both predict modes do
    first. Returns the folder, the session, its metadata, the scan and the step timings."""
    from pipeline.dicom.scan import scan_folder

    ingest = ingest or default_ingest_params()
    root = Path(dicom_dir)
    if not root.is_dir():
        raise DicomReadError(f"{root}: not a folder")
    session = open_session(model)
    meta = session_metadata(session, "<bytes>" if isinstance(model, bytes) else model)
    timings = dict.fromkeys(steps, 0.0)
    t0 = time.perf_counter()
    scan = scan_folder(root, ingest, executor or ExecutorParams(jobs=ingest.jobs))
    timings["scan"] = time.perf_counter() - t0
    return root, session, meta, scan, timings


def predict_folder(dicom_dir: str | Path, candidates: pd.DataFrame, model: str | Path | bytes,
                   ingest: IngestParams | None = None, executor: ExecutorParams | None = None,
                   batch_size: int = 64, source: str = "candidates") -> PredictResult:
    """Score ``candidates`` (LUNA16 world coordinates) on the series of ``dicom_dir``.

    Returns the candidate rows (all input columns kept, in input order) plus ``probability``
    (empty when not scored), ``prediction`` (1 at or above the model's threshold), ``status`` and
    ``reason``, and the seconds spent per step.

    Raises:
        DicomReadError, SeriesValidationError: the folder holds no usable series.
        ConfigError: bad candidates table (no coordinates; several series and no seriesuid) or
            model (missing, or without the export metadata).
    """
    root, session, meta, scan, timings = _open_folder(dicom_dir, model, ingest, executor, STEPS)
    if scan.series.empty:
        raise _unusable_folder(root, scan.files_seen, scan.rejected)
    series = {str(r.series_uid): str(r.files) for r in scan.series.itertuples()}
    rejected = _rejection_reasons(scan.rejected)

    table = candidates.reset_index(drop=True).copy()
    uids = assign_series(table, list(series), source)
    prob = np.full(len(table), np.nan)
    status = np.full(len(table), SCORED, dtype=object)
    reason = np.full(len(table), "", dtype=object)
    scored_series = 0
    for uid in dict.fromkeys(uids):  # first-appearance order, each series once
        rows = np.flatnonzero((uids == uid).to_numpy())
        if uid not in series:
            known = uid in rejected
            status[rows] = REJECTED if known else NOT_FOUND
            reason[rows] = (f"series rejected by ingest checks: {rejected[uid]}" if known
                            else "series not found in the DICOM folder")
            continue
        centers = table.loc[rows, list(COORDS)].apply(pd.to_numeric, errors="coerce"
                                                      ).to_numpy(dtype=np.float64)
        bad = ~np.isfinite(centers).all(axis=1)
        status[rows[bad]] = BAD_COORDS
        reason[rows[bad]] = "coordX, coordY, coordZ must be finite numbers (world mm)"
        rows, centers = rows[~bad], centers[~bad]
        if len(rows) == 0:
            continue
        files = [root / f for f in series[uid].split("|")]
        try:
            inputs, inside = series_inputs(files, centers, meta, timings)
        except (DicomReadError, SeriesValidationError) as exc:
            status[rows], reason[rows] = READ_ERROR, str(exc)
            continue
        t0 = time.perf_counter()
        prob[rows[inside]] = predict_proba(session, inputs, batch_size)
        timings["inference"] += time.perf_counter() - t0
        status[rows[~inside]] = OUTSIDE
        reason[rows[~inside]] = "candidate centre lies outside the scanned volume"
        scored_series += 1
    table["probability"] = prob
    prediction = pd.Series(pd.NA, index=table.index, dtype="Int64")
    if meta.threshold is not None:
        ok = ~np.isnan(prob)
        prediction[ok] = (prob[ok] >= meta.threshold).astype(int)
    table["prediction"] = prediction
    table["status"] = status
    table["reason"] = reason
    shifts = series_shifts(model, root, scan.series)
    if shifts is not None:  # a column only a model with training ranges adds
        table["shift"] = [shifts.get(u, "") for u in uids]
    log.info("scored %d of %d candidates in %d series", int((status == SCORED).sum()),
             len(table), scored_series)
    return PredictResult(table=table, series_scored=scored_series, timings_s=timings)


@dataclass
class SeriesFindings:
    """One usable series after detection: its rows, the resampled volume and source files."""

    seriesuid: str
    files: list[Path]
    volume: sitk.Image | None  # resampled HU volume (None when the series could not be read)
    table: pd.DataFrame  # rows of DETECT_COLUMNS for this series


@dataclass
class DetectResult:
    """``table`` (:data:`DETECT_COLUMNS`, one row per candidate or per unusable series), the
    per-series detail for reports, the model's threshold and the seconds per step."""

    table: pd.DataFrame
    series: list[SeriesFindings]
    threshold: float | None
    timings_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DETECT_STEPS, 0.0))


def _status_row(uid: str, status: str, reason: str) -> dict[str, object]:
    return {"seriesuid": uid, "coordX": np.nan, "coordY": np.nan, "coordZ": np.nan,
            "probability": np.nan, "prediction": pd.NA, "diameter_mm": np.nan,
            "status": status, "reason": reason}


def detect_series(files: list[Path], uid: str, session: object, meta: ModelMetadata,
                  params: CandidateParams, batch_size: int, timings_s: dict[str, float]
                  ) -> SeriesFindings:
    """Read, resample, generate candidates, score them: the rows of one series."""
    t0 = time.perf_counter()
    try:
        image = read_series_hu(files)
    except (DicomReadError, SeriesValidationError) as exc:
        table = pd.DataFrame([_status_row(uid, READ_ERROR, str(exc))], columns=DETECT_COLUMNS)
        return SeriesFindings(uid, files, None, table)
    t1 = time.perf_counter()
    volume = resample_as_trained(image, meta.preprocess)
    t2 = time.perf_counter()
    array = sitk.GetArrayViewFromImage(volume)
    geometry = Geometry.from_sitk(volume)
    found = generate_candidates(array, geometry, params, uid)
    t3 = time.perf_counter()
    centers = found[list(COORDS)].to_numpy(dtype=np.float64)
    cubes, inside = extract_cubes(array, geometry, centers, int(meta.preprocess["cube_size"]))
    inputs = model_inputs(cubes[inside], meta.input_kind, meta.preprocess)
    t4 = time.perf_counter()
    prob = np.full(len(found), np.nan)
    prob[inside] = predict_proba(session, inputs, batch_size)  # type: ignore[arg-type]
    t5 = time.perf_counter()
    for key, dt in (("read", t1 - t0), ("resample", t2 - t1), ("candidates", t3 - t2),
                    ("patch", t4 - t3), ("inference", t5 - t4)):
        timings_s[key] = timings_s.get(key, 0.0) + dt
    if found.empty:
        table = pd.DataFrame([_status_row(uid, NO_CANDIDATES, "the candidate generator found no "
                                          "nodule-like blob in the lungs")], columns=DETECT_COLUMNS)
        return SeriesFindings(uid, files, volume, table)
    table = found[["seriesuid", *COORDS, "diameter_mm"]].copy()
    table["probability"] = prob
    prediction = pd.Series(pd.NA, index=table.index, dtype="Int64")
    if meta.threshold is not None:
        ok = ~np.isnan(prob)
        prediction[ok] = (prob[ok] >= meta.threshold).astype(int)
    table["prediction"] = prediction
    table["status"] = np.where(inside, SCORED, OUTSIDE)
    table["reason"] = np.where(inside, "", "candidate centre lies outside the scanned volume")
    table = table.sort_values("probability", ascending=False, kind="stable", na_position="last")
    return SeriesFindings(uid, files, volume, table[DETECT_COLUMNS].reset_index(drop=True))


def detect_folder(dicom_dir: str | Path, model: str | Path | bytes,
                  params: CandidateParams | None = None, ingest: IngestParams | None = None,
                  executor: ExecutorParams | None = None, batch_size: int = 64) -> DetectResult:
    """Find and score nodule candidates on every usable series under ``dicom_dir``.

    Series are grouped by SeriesInstanceUID over the whole folder tree (a study exported in
    several folders is one series). A series rejected by ingest's checks, or that cannot be read,
    gives one row with its ``status`` and ``reason``; a usable series gives one row per
    candidate, most probable first (or one ``no_candidates`` row).

    Raises:
        DicomReadError, SeriesValidationError: the folder holds no DICOM series at all.
        ConfigError: bad model (missing, or without the export metadata).
    """
    params = params or default_candidate_params()
    root, session, meta, scan, timings = _open_folder(dicom_dir, model, ingest, executor,
                                                      DETECT_STEPS)
    rejected = _rejection_reasons(scan.rejected)
    if scan.series.empty and not rejected:
        raise _unusable_folder(root, scan.files_seen, scan.rejected)
    series = []
    for r in scan.series.sort_values("series_uid", kind="stable").itertuples():
        files = [root / f for f in str(r.files).split("|")]
        series.append(detect_series(files, str(r.series_uid), session, meta, params, batch_size,
                                    timings))
    rows = [pd.DataFrame([_status_row(uid, REJECTED, f"series rejected by ingest checks: {why}")
                          for uid, why in rejected.items()], columns=DETECT_COLUMNS)]
    frames = [s.table for s in series] + ([rows[0]] if rejected else [])
    table = pd.concat(frames, ignore_index=True)
    table["prediction"] = table["prediction"].astype("Int64")
    shifts = series_shifts(model, root, scan.series)
    if shifts is not None:  # a column only a model with training ranges adds
        table["shift"] = table["seriesuid"].map(shifts).fillna("")
        for s in series:
            s.table["shift"] = shifts.get(s.seriesuid, "")
    log.info("%d candidates in %d series (%d rejected)", int((table["status"] == SCORED).sum()),
             len(series), len(rejected))
    return DetectResult(table=table, series=series, threshold=meta.threshold, timings_s=timings)
