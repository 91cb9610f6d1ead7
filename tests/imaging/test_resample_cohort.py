"""The resample stage over a folder: volumes, geometry table, rejections, determinism, jobs."""

from dataclasses import replace

import numpy as np
import pandas as pd
import SimpleITK as sitk
from imaging_phantoms import COHORT_GEOMETRIES, REPO, load_stage, write_params

from pipeline.dicom.scan import ingest_scanner
from pipeline.imaging.resample_cohort import resample_cohort
from pipeline.imaging.volume_table import GEOMETRY_COLUMNS, geometry_from_row
from pipeline.io import read_csv, read_json
from pipeline.parallel import ExecutorParams
from pipeline.params import load_params

LOCAL1 = ExecutorParams(kind="local", jobs=1)


def test_cohort_writes_one_volume_and_row_per_series(anon_dir, tmp_path, resample_params):
    report = resample_cohort(anon_dir, tmp_path / "vol", resample_params, LOCAL1)
    assert list(report.geometry.columns) == GEOMETRY_COLUMNS
    assert sorted(report.geometry["series_uid"]) == sorted(COHORT_GEOMETRIES)
    for row in report.geometry.to_dict("records"):
        image = sitk.ReadImage(str(tmp_path / "vol" / row["file"]))
        assert image.GetPixelID() == sitk.sitkInt16
        assert np.allclose(image.GetOrigin(), geometry_from_row(row).origin, atol=1e-4)
        assert image.GetDirection() == COHORT_GEOMETRIES[row["series_uid"]].direction
        mask = sitk.ReadImage(str(tmp_path / "vol" / row["lung_file"]))
        assert mask.GetPixelID() == sitk.sitkUInt8 and mask.GetSize() == image.GetSize()
        assert row["hu_max"] == 400 and row["hu_min"] == -1000
    assert report.rejected.empty


def test_series_with_missing_file_is_rejected_with_reason(anon_dir, tmp_path, resample_params):
    (anon_dir / "dicom" / "1.2.826.0.1.2" / "0003.dcm").unlink()
    report = resample_cohort(anon_dir, tmp_path / "vol", resample_params, LOCAL1)
    assert "1.2.826.0.1.2" not in set(report.geometry["series_uid"])
    rejected = report.rejected.set_index("series_uid")
    assert "not found" in rejected.loc["1.2.826.0.1.2", "reason"]


def test_jobs_1_and_2_write_identical_outputs(anon_dir, tmp_path, resample_params):
    params = replace(resample_params, lung_mask=False)
    one = resample_cohort(anon_dir, tmp_path / "a", params, LOCAL1)
    two = resample_cohort(anon_dir, tmp_path / "b", params, ExecutorParams(kind="local", jobs=2))
    pd.testing.assert_frame_equal(one.geometry, two.geometry)
    for name in one.geometry["file"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_resample_stage_runs_in_process(anon_dir, tmp_path):
    params = write_params(tmp_path / "params.yaml", resample={"jobs": 1})
    out = tmp_path / "volumes"
    stage = load_stage("resample")
    assert stage.main(["--input", str(anon_dir), "--output", str(out), "--params",
                       str(params)]) == 0
    geometry = read_csv(out / "geometry.csv", keep_default_na=False)
    assert len(geometry) == len(COHORT_GEOMETRIES)
    assert read_json(out / "resample.json")["spacing_mm"] == 1.0
    assert (out / "rejected.csv").is_file()
    first = (out / geometry["file"][0]).read_bytes()
    assert stage.main(["--input", str(anon_dir), "--output", str(out), "--params",
                       str(params)]) == 0
    assert (out / geometry["file"][0]).read_bytes() == first


def test_folder_without_series_table_is_scanned_with_the_ingest_code(anon_dir, tmp_path,
                                                                    resample_params):
    (anon_dir / "series.csv").unlink()
    ingest = load_params(REPO / "params.yaml").ingest
    report = resample_cohort(anon_dir, tmp_path / "vol", replace(resample_params, lung_mask=False),
                             LOCAL1, scan=ingest_scanner(ingest, LOCAL1))
    assert sorted(report.geometry["series_uid"]) == sorted(COHORT_GEOMETRIES)
    assert set(report.geometry["size_z"]) >= {16}
