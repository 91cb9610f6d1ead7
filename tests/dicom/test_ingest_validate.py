"""Series-level validation: each broken series is rejected with the reason that names its fault."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pydicom.uid import generate_uid

from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import scan_folder
from pipeline.dicom.validate import stack_order
from pipeline.imaging.geometry import rotation_matrix
from pipeline.parallel import ExecutorParams

PARAMS = IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                      allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)
ONE = ExecutorParams(jobs=1)


def _series_reason(tmp_path, params: IngestParams = PARAMS) -> str:
    result = scan_folder(tmp_path, params, ONE)
    assert result.series.empty, "the broken series must not be kept"
    rows = result.rejected[result.rejected["path"] == ""]
    assert len(rows) == 1
    return str(rows.iloc[0]["reason"])


def test_missing_slice_is_rejected_with_the_positions_around_the_gap(tmp_path, make_ct_series):
    paths = make_ct_series(tmp_path, origin=(0, 0, 0))
    paths[3].unlink()
    reason = _series_reason(tmp_path)
    assert reason.startswith("missing slice(s): 1 missing between z=5 and z=10 mm")


def test_two_orientations_under_one_series_uid_are_rejected(tmp_path, make_ct_series):
    uid, study = generate_uid(), generate_uid()
    make_ct_series(tmp_path / "axial", n=4, series_uid=uid, study_uid=study)
    make_ct_series(tmp_path / "oblique", n=4, series_uid=uid, study_uid=study,
                   direction=rotation_matrix(20, "x"), origin=(0, 0, 50))
    reason = _series_reason(tmp_path)
    assert reason.startswith("several acquisitions share this SeriesInstanceUID: 2 orientations")


def test_duplicate_positions_are_rejected(tmp_path, make_ct_series):
    uid, study = generate_uid(), generate_uid()
    make_ct_series(tmp_path / "first", series_uid=uid, study_uid=study)
    make_ct_series(tmp_path / "again", series_uid=uid, study_uid=study)
    assert _series_reason(tmp_path).startswith("duplicate positions: 8 slice(s)")


def test_positions_off_the_slice_normal_are_rejected_as_gantry_tilt(tmp_path, make_ct_series,
                                                                    edit_headers):
    # a tilted gantry: image plane rotated about x, table (positions) still moving along world z
    paths = make_ct_series(tmp_path, direction=rotation_matrix(15, "x"), origin=(0, 0, 0))
    for k, path in enumerate(paths):
        edit_headers([path], ImagePositionPatient=[0, 0, 2.5 * k], GantryDetectorTilt=15)
    assert _series_reason(tmp_path).startswith("gantry tilt: slice positions move")


def test_gantry_detector_tilt_alone_is_rejected(tmp_path, make_ct_series, edit_headers):
    edit_headers(make_ct_series(tmp_path), GantryDetectorTilt=7.5)
    reason = _series_reason(tmp_path)
    assert reason.startswith("gantry tilt:") and "GantryDetectorTilt 7.5 degrees" in reason


def test_gantry_tilt_is_kept_when_allowed(tmp_path, make_ct_series, edit_headers):
    edit_headers(make_ct_series(tmp_path), GantryDetectorTilt=7.5)
    params = dataclasses.replace(PARAMS, allow_gantry_tilt=True)
    assert len(scan_folder(tmp_path, params, ONE).series) == 1


def test_inconsistent_rows_are_rejected(tmp_path, make_ct_series):
    uid, study = generate_uid(), generate_uid()
    make_ct_series(tmp_path, n=7, series_uid=uid, study_uid=study, origin=(0, 0, 0))
    make_ct_series(tmp_path / "big", n=1, size=20, series_uid=uid, study_uid=study,
                   origin=(0, 0, 17.5))
    assert _series_reason(tmp_path).startswith(
        "inconsistent pixel module: Rows differs across slices (16 in 7 files, 20 in 1 file)")


def test_different_pixel_spacing_under_one_series_uid_is_rejected(tmp_path, make_ct_series):
    uid, study = generate_uid(), generate_uid()
    make_ct_series(tmp_path / "a", n=4, series_uid=uid, study_uid=study)
    make_ct_series(tmp_path / "b", n=4, series_uid=uid, study_uid=study, origin=(0, 0, 50),
                   spacing=(0.8, 0.8, 2.5))
    assert _series_reason(tmp_path).startswith(
        "several acquisitions share this SeriesInstanceUID: PixelSpacing differs")


def test_non_uniform_spacing_is_rejected_with_the_gaps_found(tmp_path, make_ct_series,
                                                             edit_headers):
    paths = make_ct_series(tmp_path, origin=(0, 0, 0))
    edit_headers([paths[5]], ImagePositionPatient=[0, 0, 13.5])
    reason = _series_reason(tmp_path)
    assert reason.startswith("non-uniform slice spacing: gaps found (mm) 2.5 in 5 gaps")
    assert "3.5 in 1 gap" in reason and "1.5 in 1 gap" in reason


def test_too_few_slices_are_rejected(tmp_path, make_ct_series):
    make_ct_series(tmp_path, n=2)
    assert _series_reason(tmp_path).startswith("too few slices: 2")


def test_stack_order_sorts_by_projection_on_the_normal_not_input_order():
    positions = np.array([[0, 0, 5.0], [0, 0, -5.0], [0, 0, 0.0]])
    order, z = stack_order(positions, (1, 0, 0, 0, -1, 0))  # normal (0, 0, -1)
    assert order.tolist() == [0, 2, 1]
    assert z.tolist() == pytest.approx([-5.0, 0.0, 5.0])
