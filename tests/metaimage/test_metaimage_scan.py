"""Listing and checking a folder of MetaImage volumes: kept rows, rejected rows with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from metaimage_helpers import REPO, load_stage, set_header_field, write_mhd

from pipeline.imaging.geometry import Geometry
from pipeline.metaimage.scan import METAIMAGE_SERIES_COLUMNS, metaimage_metrics, scan_metaimage
from pipeline.parallel import ExecutorParams
from pipeline.params import load_params

GEO = Geometry(origin=(-150.0, -160.0, -300.0), spacing=(0.7, 0.7, 2.5))
INGEST = load_params(REPO / "params.yaml").ingest
LOCAL1 = ExecutorParams(kind="local", jobs=1)


def _volume(shape_zyx=(5, 6, 7)) -> np.ndarray:
    return np.arange(np.prod(shape_zyx), dtype=np.int16).reshape(shape_zyx) - 1000


@pytest.fixture
def luna(tmp_path: Path) -> Path:
    """A LUNA16-like root: two good volumes in subsets, one in the root, and four bad ones."""
    root = tmp_path / "luna"
    write_mhd(root / "subset0" / "1.2.840.1.mhd", _volume(), GEO)
    write_mhd(root / "subset7" / "1.2.840.2.mhd", _volume(),
              Geometry((10.0, 20.0, 30.0), (0.6, 0.65, 1.25), (0, 1, 0, 1, 0, 0, 0, 0, -1)))
    write_mhd(root / "1.2.840.3.mhd", _volume(), GEO)
    (root / "subset1").mkdir()
    (root / "subset1" / "1.2.840.10.mhd").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((6, 7), dtype=np.int16)),
                    str(root / "subset1" / "1.2.840.11.mhd"))  # 2D
    write_mhd(root / "subset1" / "1.2.840.12.mhd", _volume(), GEO)
    (root / "subset1" / "1.2.840.12.raw").unlink()
    write_mhd(root / "subset1" / "1.2.840.13.mhd", _volume(), GEO)
    set_header_field(root / "subset1" / "1.2.840.13.mhd", "ElementSpacing", "0.7 0 2.5")
    (root / "subset1" / "1.2.840.99.raw").write_bytes(b"\0" * 8)  # no header names it
    (root / "annotations.csv").write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n")
    write_mhd(root / "seg-lungs-LUNA16" / "1.2.840.1.mhd", _volume(), GEO)  # not looked at
    return root


def test_good_volumes_are_kept_with_geometry_subset_and_uid_as_patient(luna):
    result = scan_metaimage(luna, INGEST, LOCAL1)
    series = result.series.set_index("series_uid")
    assert list(result.series.columns) == list(METAIMAGE_SERIES_COLUMNS)
    assert sorted(series.index) == ["1.2.840.1", "1.2.840.2", "1.2.840.3"]
    assert series.loc["1.2.840.1", "files"] == "subset0/1.2.840.1.mhd"
    assert series.loc["1.2.840.1", "subset"] == "0" and series.loc["1.2.840.2", "subset"] == "7"
    assert series.loc["1.2.840.3", "subset"] == ""
    assert (series["patient_id"] == series.index).all() and (series["format"] == "metaimage").all()
    two = series.loc["1.2.840.2"]
    assert (two["n_slices"], two["rows"], two["columns"]) == (5, 6, 7)
    assert (two["pixel_spacing_row_mm"], two["pixel_spacing_col_mm"],
            two["slice_spacing_mm"]) == (0.65, 0.6, 1.25)
    assert two["orientation"] == "0\\1\\0\\1\\0\\0" and two["first_position"] == "10\\20\\30"


def test_bad_volumes_are_rejected_with_reasons_never_raised(luna):
    result = scan_metaimage(luna, INGEST, LOCAL1)
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    assert reasons["subset1/1.2.840.10.mhd"].startswith("unreadable MetaImage header:")
    assert reasons["subset1/1.2.840.11.mhd"] == "not a 3D volume: NDims = 2"
    assert reasons["subset1/1.2.840.12.mhd"] == \
        "missing data file: 1.2.840.12.raw not found beside 1.2.840.12.mhd"
    assert reasons["subset1/1.2.840.13.mhd"].startswith("bad spacing: ElementSpacing (0.7, 0.0")
    assert reasons["subset1/1.2.840.99.raw"].startswith("data file without header")
    assert len(reasons) == 5  # the CSV and the seg-lungs folder are left alone
    uids = dict(zip(result.rejected["path"], result.rejected["series_uid"], strict=True))
    assert uids["subset1/1.2.840.12.mhd"] == "1.2.840.12"
    metrics = metaimage_metrics(result)
    assert metrics["volumes_kept"] == 3 and metrics["volumes_rejected"] == 4
    assert metrics["files_rejected"] == 1
    assert metrics["volumes_per_subset"] == {"0": 1, "7": 1, "none": 1}
    assert metrics["rejected_by_reason"]["not a 3D volume"] == 1


def test_truncated_data_non_orthonormal_direction_and_few_slices_are_rejected(tmp_path):
    root = tmp_path / "luna"
    write_mhd(root / "1.1.mhd", _volume(), GEO)
    (root / "1.1.raw").write_bytes((root / "1.1.raw").read_bytes()[:-2])
    write_mhd(root / "1.2.mhd", _volume(), GEO)
    set_header_field(root / "1.2.mhd", "TransformMatrix", "1 0 0 0 2 0 0 0 1")
    write_mhd(root / "1.3.mhd", _volume((2, 6, 7)), GEO)
    write_mhd(root / "bad|name.mhd", _volume(), GEO)
    result = scan_metaimage(root, INGEST, LOCAL1)
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    assert result.series.empty
    assert reasons["1.1.mhd"] == ("truncated data file: 1.1.raw holds 418 bytes, expected 420 "
                                  "(7x6x5 MET_SHORT)")
    assert reasons["1.2.mhd"].startswith("bad direction:")
    assert reasons["1.3.mhd"] == "too few slices: 2, expected at least ingest.min_slices = 3"
    assert reasons["bad|name.mhd"].startswith("unsupported file name:")


def test_same_seriesuid_in_two_subsets_keeps_the_first(tmp_path):
    root = tmp_path / "luna"
    write_mhd(root / "subset0" / "1.5.mhd", _volume(), GEO)
    write_mhd(root / "subset1" / "1.5.mhd", _volume(), GEO)
    result = scan_metaimage(root, INGEST, LOCAL1)
    assert result.series["files"].tolist() == ["subset0/1.5.mhd"]
    assert result.rejected["reason"].tolist() == [
        "duplicate seriesuid: same file name as subset0/1.5.mhd"]


def test_ingest_stage_on_metaimage_writes_tables_and_report(luna, tmp_path):
    out, metrics = tmp_path / "out", tmp_path / "ingest.json"
    code = load_stage("ingest").main(["--input", str(luna), "--output", str(out), "--metrics",
                                      str(metrics), "--params", str(REPO / "params.yaml")])
    assert code == 0
    series = pd.read_csv(out / "series.csv", dtype=str, keep_default_na=False)
    assert series["series_uid"].tolist() == ["1.2.840.1", "1.2.840.2", "1.2.840.3"]
    rejected = pd.read_csv(out / "rejected.csv", dtype=str, keep_default_na=False)
    assert len(rejected) == 5
    assert json.loads(metrics.read_text())["format"] == "metaimage"
