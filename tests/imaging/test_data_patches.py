"""pipeline.data.patches (the patches stage's cube cutting) on resampled phantoms: one cube array,
index, rejections, merging, metrics (here for the imaging phantoms and fixtures)."""

from dataclasses import replace

import numpy as np
import pytest
from imaging_phantoms import COHORT_GEOMETRIES, load_stage, write_params

from pipeline.data.patches import INDEX_COLUMNS, build_patches
from pipeline.data.patches_params import PatchesParams
from pipeline.imaging.resample_cohort import resample_cohort, resample_provenance
from pipeline.io import read_json, write_csv, write_json
from pipeline.parallel import ExecutorParams

LOCAL1 = ExecutorParams(kind="local", jobs=1)
PARAMS = PatchesParams(cube_mm=9.0, merge_distance_mm=0.0, jobs=1)


@pytest.fixture
def volumes(anon_dir, tmp_path, resample_params):
    out = tmp_path / "volumes"
    params = replace(resample_params, lung_mask=False)
    report = resample_cohort(anon_dir, out, params, LOCAL1)
    write_csv(out / "geometry.csv", report.geometry, float_format="%.6f")
    write_json(out / "resample.json", resample_provenance(params))
    return out


def test_positive_patches_have_the_ball_at_the_centre(volumes, anon_dir, tmp_path):
    result = build_patches(volumes, anon_dir, tmp_path / "p", PARAMS, LOCAL1)
    assert list(result.index.columns) == INDEX_COLUMNS
    rows = result.index
    cubes = np.load(tmp_path / "p" / "cubes.npy")
    assert cubes.dtype == np.int16 and cubes.shape == (len(rows), 9, 9, 9)
    assert list(rows["row"]) == list(range(len(rows)))
    for row in rows[rows["label"] == 1].itertuples():
        assert cubes[row.row, 4, 4, 4] == 400  # inside the 4 mm ball
        assert row.annotation_id >= 0 and row.diameter_mm == 8.0


def test_outside_and_unknown_series_candidates_are_rejected_with_reason(volumes, anon_dir,
                                                                       tmp_path):
    result = build_patches(volumes, anon_dir, tmp_path / "p", PARAMS, LOCAL1)
    reasons = result.rejected.set_index("series_uid")["reason"]
    assert "outside the volume" in reasons[next(iter(COHORT_GEOMETRIES))]
    assert "series missing" in reasons["9.9.9"]
    assert len(result.index) == 3 * len(COHORT_GEOMETRIES)


def test_every_series_candidates_are_contiguous_rows_with_their_patient(volumes, anon_dir,
                                                                        tmp_path):
    result = build_patches(volumes, anon_dir, tmp_path / "p", PARAMS, LOCAL1)
    for _, rows in result.index.groupby("series_uid"):
        assert np.array_equal(rows["row"], np.arange(rows["row"].min(), rows["row"].max() + 1))
        assert rows["patient_id"].nunique() == 1
    assert result.metrics["positives"] == 4
    assert set(result.annotations["patient_id"]) <= set(result.index["patient_id"])


def test_near_candidates_merge_keeping_the_positive(volumes, anon_dir, tmp_path):
    params = replace(PARAMS, merge_distance_mm=2.0)
    result = build_patches(volumes, anon_dir, tmp_path / "p", params, LOCAL1)
    assert len(result.index) == 2 * len(COHORT_GEOMETRIES)
    assert (result.index["label"] == 1).sum() == len(COHORT_GEOMETRIES)
    assert result.metrics["merged_candidates"] == len(COHORT_GEOMETRIES)


def test_patches_stage_runs_in_process_and_is_deterministic(volumes, anon_dir, tmp_path):
    params = write_params(tmp_path / "params.yaml", patches={"cube_mm": 9.0, "jobs": 2})
    stage = load_stage("patches")
    outputs = []
    for run in ("a", "b"):
        out, metrics = tmp_path / run, tmp_path / f"{run}.json"
        assert stage.main(
                         ["--volumes", str(volumes), "--tables", str(anon_dir), "--output",
                          str(out), "--metrics", str(metrics), "--params", str(params)]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"cubes.npy", "index.csv", "preprocess.json", "annotations.csv",
                               "annotations_excluded.csv", "rejected.csv"}
    preprocess = read_json(tmp_path / "a" / "preprocess.json")
    assert preprocess["cube_size"] == 9 and preprocess["axes"] == "zyx-LPS-ascending"
    assert read_json(tmp_path / "a.json")["candidates"] == 3 * len(COHORT_GEOMETRIES)


def test_jobs_1_and_2_write_identical_arrays(volumes, anon_dir, tmp_path):
    one = build_patches(volumes, anon_dir, tmp_path / "a", PARAMS, LOCAL1)
    two = build_patches(volumes, anon_dir, tmp_path / "b", PARAMS,
                        ExecutorParams(kind="local", jobs=2))
    assert one.index.equals(two.index)
    cubes = [(tmp_path / run / "cubes.npy").read_bytes() for run in ("a", "b")]
    assert cubes[0] == cubes[1]


def test_patches_stage_refuses_a_disk_too_small_and_writes_nothing(volumes, anon_dir, tmp_path,
                                                                   monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 5000, 5000))
    params = write_params(tmp_path / "params.yaml", patches={"cube_mm": 9.0, "jobs": 1})
    out = tmp_path / "p"
    code = load_stage("patches").main(
        ["--volumes", str(volumes), "--tables", str(anon_dir), "--output", str(out),
         "--metrics", str(tmp_path / "m.json"), "--params", str(params)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    n = 3 * len(COHORT_GEOMETRIES)
    assert code == 2 and not out.exists() and not (tmp_path / "m.json").exists()
    assert f"the patches need 0.000 GB ({n} cubes x {9**3 * 2} bytes" in err
    assert "only 0.000 GB are free" in err and "patches: error:" in err
