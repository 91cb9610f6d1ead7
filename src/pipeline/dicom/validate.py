"""Validate that the slices of one series stack into a regular volume, and order them.

A series is stacked along its slice normal ``n = row x column`` of ImageOrientationPatient
(PS3.3 C.7.6.2.1.1): each slice's position is ``z = dot(ImagePositionPatient, n)`` and slices are
ordered by increasing ``z``, never by InstanceNumber or file name. A series is rejected, with a
reason, when:

- its slices do not share one pixel description (Rows, Columns, BitsAllocated, PixelRepresentation,
  SamplesPerPixel = 1; PS3.3 C.7.6.3) or one PixelSpacing / orientation (several acquisitions under
  one SeriesInstanceUID);
- it has fewer than ``min_slices`` slices;
- two slices sit at the same position (within ``position_tol_mm``);
- the gantry is tilted (positions move sideways to the normal, or GantryDetectorTilt != 0) and
  ``allow_gantry_tilt`` is false: such a stack needs a shear correction nobody downstream applies;
- a gap is a multiple of the median gap (missing slices) or otherwise differs from the median by
  more than ``spacing_rtol`` (non-uniform spacing).

The text of a reason before its first ``:`` is its category, counted in ``reports/ingest.json``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.dicom.params import IngestParams
from pipeline.dicom.read import FileHeader
from pipeline.errors import GeometryError, SeriesValidationError
from pipeline.imaging.geometry import direction_from_dicom, slice_normal
from pipeline.tables import Table

log = logging.getLogger(__name__)

#: ingest's ``series.csv`` (original identity: ``cache: false``), one row per usable series
#: (:class:`SeriesSummary`); ``files`` relative to the input, in stack order, ``|``-joined.
INGEST_SERIES = Table("series.csv", "ingest", (
    ("series_uid", "uid"), ("patient_id", "text"), ("study_uid", "text"), ("modality", "text"),
    ("sop_class_uid", "text"), ("n_slices", "int"), ("rows", "int"), ("columns", "int"),
    ("pixel_spacing_row_mm", "number"), ("pixel_spacing_col_mm", "number"),
    ("slice_spacing_mm", "optional"), ("orientation", "text"), ("first_position", "text"),
    ("transfer_syntax", "text"), ("manufacturer", "text"), ("files", "text")))
SERIES_COLUMNS: tuple[str, ...] = INGEST_SERIES.names
_PIXEL_SPACING_TOL_MM = 1e-4
_MAX_LISTED = 3


class SeriesRejectedError(SeriesValidationError):
    """A series cannot be stacked; ``reason`` is the text for ``rejected.csv``."""

    def __init__(self, series_uid: str, reason: str) -> None:
        super().__init__(f"series {series_uid}: {reason}")
        self.series_uid = series_uid
        self.reason = reason


@dataclass(frozen=True)
class SeriesSummary:
    """One row of ``series.csv`` (docs/data-contracts.md); ``files`` in stack order."""

    series_uid: str
    patient_id: str
    study_uid: str
    modality: str
    sop_class_uid: str
    n_slices: int
    rows: int
    columns: int
    pixel_spacing_row_mm: float
    pixel_spacing_col_mm: float
    slice_spacing_mm: float
    orientation: str
    first_position: str
    transfer_syntax: str
    manufacturer: str
    files: str

    def to_row(self) -> dict[str, object]:
        return asdict(self)


def format_number(value: float) -> str:
    """Stable text for a coordinate: 10 significant digits, no ``-0``."""
    text = f"{float(value):.10g}"
    return "0" if text in ("-0", "-0.0") else text


def join_numbers(values: Sequence[float] | np.ndarray) -> str:
    """Values joined by ``\\`` as in a DICOM multi-valued DS (series.csv orientation, position)."""
    return "\\".join(format_number(v) for v in values)


def stack_order(positions_mm: np.ndarray, orientation: Sequence[float]) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Order slices by position along the slice normal (PS3.3 C.7.6.2.1.1).

    Args:
        positions_mm: ``(N, 3)`` ImagePositionPatient of each slice (LPS, mm).
        orientation: the six ImageOrientationPatient values shared by the slices.

    Returns:
        ``(order, z_mm)``: indices that sort the slices by increasing ``dot(IPP, row x col)`` (ties
        keep input order) and the sorted positions along the normal in mm.
    """
    z = np.asarray(positions_mm, dtype=np.float64) @ slice_normal(orientation)
    order = np.argsort(z, kind="stable")
    return order, z[order]


def validate_series(headers: Sequence[FileHeader], params: IngestParams) -> SeriesSummary:
    """Check that usable slice headers of one series stack into a regular volume.

    Raises:
        SeriesRejectedError: with a reason a person understands when the series cannot be used.
    """
    if not headers:
        raise SeriesRejectedError("", "empty series: no usable slices")
    uid = headers[0].series_uid
    try:
        direction_from_dicom(headers[0].orientation)
    except GeometryError as exc:
        raise SeriesRejectedError(uid, f"invalid image plane: {exc}") from None
    reason = (_pixel_module_reason(headers) or _orientation_reason(headers, params)
              or _identity_reason(headers))
    if reason:
        raise SeriesRejectedError(uid, reason)
    if len(headers) < params.min_slices:
        raise SeriesRejectedError(uid, f"too few slices: {len(headers)} (ingest.min_slices is "
                                  f"{params.min_slices})")
    orientation = headers[0].orientation
    positions = np.array([h.position_mm for h in headers], dtype=np.float64)
    order, z = stack_order(positions, orientation)
    reason = (_duplicate_reason(z, params) or _tilt_reason(positions[order], orientation,
                                                           headers, params)
              or _spacing_reason(z, params))
    if reason:
        raise SeriesRejectedError(uid, reason)
    ordered = [headers[i] for i in order]
    first = ordered[0]
    return SeriesSummary(
        series_uid=uid,
        patient_id=first.patient_id,
        study_uid=first.study_uid,
        modality=first.modality,
        sop_class_uid=first.sop_class_uid,
        n_slices=len(ordered),
        rows=first.rows,
        columns=first.columns,
        pixel_spacing_row_mm=float(first.pixel_spacing_mm[0]),
        pixel_spacing_col_mm=float(first.pixel_spacing_mm[1]),
        slice_spacing_mm=round(float((z[-1] - z[0]) / (len(z) - 1)), 6),
        orientation=join_numbers(orientation),
        first_position=join_numbers(first.position_mm),
        transfer_syntax="\\".join(sorted({h.transfer_syntax for h in ordered})),
        manufacturer=first.manufacturer,
        files="|".join(h.path for h in ordered),
    )


def _counts(values: Sequence[object]) -> str:
    """``"16 in 7 files, 20 in 1 file"``, most frequent first."""
    counted = sorted(Counter(values).items(), key=lambda kv: (-kv[1], str(kv[0])))
    return ", ".join(f"{v} in {n} file{'s' if n > 1 else ''}" for v, n in counted)


def _pixel_module_reason(headers: Sequence[FileHeader]) -> str:
    spp = {h.samples_per_pixel for h in headers}
    if spp != {1}:
        return (f"not grayscale: SamplesPerPixel must be 1, found "
                f"{_counts([h.samples_per_pixel for h in headers])}")
    spacings = [h.pixel_spacing_mm for h in headers]
    ref = np.asarray(spacings[0])
    if any(np.max(np.abs(np.asarray(s) - ref)) > _PIXEL_SPACING_TOL_MM for s in spacings):
        return ("several acquisitions share this SeriesInstanceUID: PixelSpacing differs ("
                f"{_counts([join_numbers(s) for s in spacings])})")
    for name in ("rows", "columns", "bits_allocated", "pixel_representation"):
        values = [getattr(h, name) for h in headers]
        if len(set(values)) > 1:
            keyword = "".join(part.capitalize() for part in name.split("_"))
            return (f"inconsistent pixel module: {keyword} differs across slices "
                    f"({_counts(values)})")
    return ""


def _orientation_reason(headers: Sequence[FileHeader], params: IngestParams) -> str:
    groups: list[np.ndarray] = []
    labels: list[str] = []
    for h in headers:
        iop = np.asarray(h.orientation)
        for k, ref in enumerate(groups):
            if np.max(np.abs(iop - ref)) <= params.orientation_tol:
                labels.append(join_numbers(groups[k]))
                break
        else:
            groups.append(iop)
            labels.append(join_numbers(iop))
    if len(groups) == 1:
        return ""
    return (f"several acquisitions share this SeriesInstanceUID: {len(groups)} orientations "
            f"({_counts(labels)})")


def _identity_reason(headers: Sequence[FileHeader]) -> str:
    for name, keyword in (("patient_id", "PatientID"), ("study_uid", "StudyInstanceUID")):
        n = len({getattr(h, name) for h in headers})
        if n > 1:
            return f"inconsistent identity: {n} different {keyword} values in one series"
    return ""


def _duplicate_reason(z: np.ndarray, params: IngestParams) -> str:
    dup = np.flatnonzero(np.diff(z) <= params.position_tol_mm)
    if dup.size == 0:
        return ""
    where = ", ".join(f"z={format_number(round(z[i], 3))}" for i in dup[:_MAX_LISTED])
    more = f" and {dup.size - _MAX_LISTED} more" if dup.size > _MAX_LISTED else ""
    return (f"duplicate positions: {dup.size} slice(s) share a position with another at {where}"
            f"{more} mm (several acquisitions or repeated slices)")


def _tilt_reason(ordered_positions_mm: np.ndarray, orientation: Sequence[float],
                 headers: Sequence[FileHeader], params: IngestParams) -> str:
    normal = slice_normal(orientation)
    d = ordered_positions_mm[-1] - ordered_positions_mm[0]
    axial = float(d @ normal)
    lateral = float(np.linalg.norm(d - axial * normal))
    angle_deg = math.degrees(math.atan2(lateral, abs(axial)))
    header_tilt_deg = max(abs(h.gantry_tilt_deg) for h in headers)
    if angle_deg <= params.max_tilt_deg and header_tilt_deg <= params.max_tilt_deg:
        return ""
    detail = (f"slice positions move {lateral:.2f} mm sideways over {abs(axial):.2f} mm along the "
              f"slice normal ({angle_deg:.2f} degrees), GantryDetectorTilt "
              f"{format_number(header_tilt_deg)} degrees")
    if params.allow_gantry_tilt:
        log.warning("a series is tilted (%s); kept because ingest.allow_gantry_tilt is true",
                    detail)
        return ""
    return f"gantry tilt: {detail}; set ingest.allow_gantry_tilt to keep tilted series"


def _spacing_reason(z: np.ndarray, params: IngestParams) -> str:
    gaps = np.diff(z)
    median = float(np.median(gaps))
    tol = params.spacing_rtol * median
    missing: list[str] = []
    irregular = False
    for i, gap in enumerate(gaps):
        if abs(gap - median) <= tol:
            continue
        k = int(round(gap / median))
        if k >= 2 and abs(gap - k * median) <= tol * k:
            missing.append(f"{k - 1} missing between z={format_number(round(z[i], 3))} and "
                           f"z={format_number(round(z[i + 1], 3))} mm")
        else:
            irregular = True
    median_text = f"median gap {format_number(round(median, 4))} mm"
    if missing:
        more = f"; and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        return f"missing slice(s): {'; '.join(missing[:_MAX_LISTED])}{more} ({median_text})"
    if irregular:
        found = _counts([format_number(round(g, 3)) for g in gaps]).replace(" file", " gap")
        return (f"non-uniform slice spacing: gaps found (mm) {found}; {median_text}, tolerance "
                f"{format_number(params.spacing_rtol * 100)}%")
    return ""
