"""scan_folder: grouping, stack order, determinism and accounting on tiny series written to disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pydicom.data
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from pipeline.dicom import scan
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import ingest_metrics, scan_folder
from pipeline.dicom.validate import SERIES_COLUMNS
from pipeline.parallel import ExecutorParams

PARAMS = IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                      allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)
ONE = ExecutorParams(jobs=1)


def _accounted(result: scan.IngestResult) -> int:
    with_path = int((result.rejected["path"] != "").sum())
    return int(result.series["n_slices"].sum()) + with_path + result.files_in_rejected_series


def test_good_series_is_kept_in_position_order_whatever_names_and_instance_numbers(
        tmp_path, make_ct_series):
    rng = np.random.default_rng(3)
    names = [f"x/{v:04d}" for v in rng.permutation(8)]
    make_ct_series(tmp_path, names=names, instance_numbers=list(rng.permutation(8) + 1))
    result = scan_folder(tmp_path, PARAMS, ONE)
    assert list(result.series.columns) == list(SERIES_COLUMNS)
    row = result.series.iloc[0]
    assert row["files"].split("|") == names  # slice k of the volume is at z = origin + 2.5 k
    assert (row["n_slices"], row["rows"], row["columns"]) == (8, 16, 16)
    assert row["slice_spacing_mm"] == pytest.approx(2.5)
    assert row["orientation"] == "1\\0\\0\\0\\1\\0"
    assert row["first_position"] == "-5.6\\-5.6\\-100"
    assert result.rejected.empty


@pytest.mark.parametrize(("direction", "reverse"), [
    ((1, 0, 0, 0, 1, 0, 0, 0, -1), True),     # IOP normal +z, slices written head to feet
    ((1, 0, 0, 0, -1, 0, 0, 0, -1), False),   # IOP normal -z: increasing along it = feet to head
])
def test_stack_order_follows_the_slice_normal(tmp_path, make_ct_series, direction, reverse):
    names = [f"s{k}" for k in range(8)]
    make_ct_series(tmp_path, names=names, direction=direction)
    files = scan_folder(tmp_path, PARAMS, ONE).series.iloc[0]["files"].split("|")
    assert files == (names[::-1] if reverse else names)


def test_series_split_across_folders_is_grouped_by_series_uid(tmp_path, make_ct_series):
    paths = make_ct_series(tmp_path / "a", names=[f"{k}.dcm" for k in range(8)])
    for p in paths[::2]:
        (tmp_path / "b").mkdir(exist_ok=True)
        p.rename(tmp_path / "b" / p.name)
    result = scan_folder(tmp_path, PARAMS, ONE)
    assert len(result.series) == 1
    assert result.series.iloc[0]["files"] == "|".join(
        f"{'b' if k % 2 == 0 else 'a'}/{k}.dcm" for k in range(8))


def test_copied_file_is_rejected_as_duplicate_and_series_kept(tmp_path, make_ct_series):
    paths = make_ct_series(tmp_path)
    shutil.copy(paths[3], tmp_path / "zz_copy.dcm")
    result = scan_folder(tmp_path, PARAMS, ONE)
    assert result.series.iloc[0]["n_slices"] == 8
    (reason,) = result.rejected.loc[result.rejected["path"] == "zz_copy.dcm", "reason"]
    assert reason.startswith("duplicate file:") and "f003.dcm" in reason


def test_rle_and_jpeg2000_series_are_accepted_and_their_pixels_decode(tmp_path, make_ct_series):
    # 32 px: OpenJPEG's default 6 resolution levels need tiles of at least 2**5 pixels
    make_ct_series(tmp_path / "rle", size=32, transfer_syntax=RLELossless)
    j2k = make_ct_series(tmp_path / "j2k", size=32)
    expected = pydicom.dcmread(j2k[2]).pixel_array.copy()
    for path in j2k:
        ds = pydicom.dcmread(path)
        ds.compress(JPEG2000Lossless)
        ds.save_as(path, enforce_file_format=True)
    result = scan_folder(tmp_path, PARAMS, ONE)
    assert sorted(result.series["transfer_syntax"]) == sorted([RLELossless, JPEG2000Lossless])
    for row in result.series.itertuples():
        ds = pydicom.dcmread(tmp_path / row.files.split("|")[2])
        assert np.array_equal(ds.pixel_array, expected)


def test_results_are_identical_with_one_or_two_jobs(tmp_path, make_ct_series, monkeypatch):
    monkeypatch.setattr(scan, "_MIN_CHUNK", 2)  # several chunks, so the pool really runs
    make_ct_series(tmp_path / "a")
    make_ct_series(tmp_path / "b", n=5, direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))
    paths = make_ct_series(tmp_path / "c")
    paths[4].unlink()
    (tmp_path / "notes.txt").write_text("not dicom")
    one = scan_folder(tmp_path, PARAMS, ONE)
    two = scan_folder(tmp_path, PARAMS, ExecutorParams(jobs=2))
    pd.testing.assert_frame_equal(one.series, two.series)
    pd.testing.assert_frame_equal(one.rejected, two.rejected)
    assert ingest_metrics(one) == ingest_metrics(two)


def test_pydicom_test_files_are_each_kept_or_rejected_with_a_reason(tmp_path):
    src = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
    shutil.copytree(src, tmp_path / "t")
    n_files = sum(1 for p in (tmp_path / "t").rglob("*") if p.is_file())
    result = scan_folder(tmp_path / "t", PARAMS, ONE)
    assert result.files_seen == n_files
    assert _accounted(result) == n_files
    assert (result.rejected["reason"].str.len() > 0).all()
    rejected_paths = set(result.rejected["path"]) - {""}
    kept_paths = {f for files in result.series["files"] for f in files.split("|")}
    assert not rejected_paths & kept_paths
    assert "dicomdirtests/DICOMDIR" in rejected_paths


def test_metrics_count_files_series_and_reasons_without_identity(tmp_path, make_ct_series):
    make_ct_series(tmp_path / "good")
    paths = make_ct_series(tmp_path / "gap")
    paths[4].unlink()
    (tmp_path / "empty.dcm").write_bytes(b"")
    result = scan_folder(tmp_path, PARAMS, ONE)
    metrics = ingest_metrics(result)
    assert metrics == {
        "files_seen": 16, "files_kept": 8, "files_rejected": 8, "series_kept": 1,
        "series_rejected": 1, "files_rejected_by_reason": {"empty file": 1},
        "series_rejected_by_reason": {"missing slice(s)": 1},
    }
    assert "PAT-0001" not in repr(metrics) and result.series.iloc[0]["series_uid"] not in repr(
        metrics)


def test_missing_input_folder_raises_named_error(tmp_path):
    from pipeline.errors import DicomReadError

    with pytest.raises(DicomReadError, match="expected a folder"):
        scan_folder(tmp_path / "nope", PARAMS, ONE)


def test_dangling_links_and_link_loops_get_a_rejected_row(tmp_path, make_ct_series):
    make_ct_series(tmp_path / "a")
    (tmp_path / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "a" / "back").symlink_to(tmp_path, target_is_directory=True)
    result = scan_folder(tmp_path, PARAMS, ONE)
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    assert reasons["gone.dcm"].startswith("dangling symbolic link")
    assert reasons["loop1"].startswith("symbolic link loop")
    assert reasons["loop2"].startswith("symbolic link loop")
    assert reasons["a/back"].startswith("symbolic link loop")
    assert len(result.series) == 1 and _accounted(result) == result.files_seen


def test_rejected_series_are_logged_by_row_never_by_uid(tmp_path, make_ct_series, caplog):
    make_ct_series(tmp_path / "a", n=2)  # too few slices: rejected as a whole
    caplog.set_level("INFO")
    result = scan_folder(tmp_path, PARAMS, ONE)
    uid = result.rejected["series_uid"].iloc[0]
    assert uid and uid not in caplog.text
    assert "see rejected.csv row 1" in caplog.text
