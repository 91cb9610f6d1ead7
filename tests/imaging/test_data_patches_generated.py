"""The patches stage on the generated track: the generator's candidates, labelled by the hit rule,
and generator.json with the generator's own sensitivity over every nodule."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from imaging_phantoms import COHORT_GEOMETRIES, load_stage, write_params

from pipeline.data.patches import build_patches
from pipeline.data.patches_params import PatchesParams
from pipeline.imaging.resample_cohort import resample_cohort, resample_provenance
from pipeline.io import write_csv, write_json
from pipeline.parallel import ExecutorParams

LOCAL1 = ExecutorParams(kind="local", jobs=1)
PARAMS = PatchesParams(cube_mm=9.0, merge_distance_mm=0.0, jobs=1)
UIDS = list(COHORT_GEOMETRIES)


@pytest.fixture
def volumes(anon_dir, tmp_path, resample_params):
    out = tmp_path / "volumes"
    params = replace(resample_params, lung_mask=False)
    report = resample_cohort(anon_dir, out, params, LOCAL1)
    write_csv(out / "geometry.csv", report.geometry, float_format="%.6f")
    write_json(out / "resample.json", resample_provenance(params))
    return out


@pytest.fixture
def generated(anon_dir, tmp_path):
    """A candidates-stage table: per scan but the last, one candidate 3 mm off the 8 mm nodule's
    centre (a hit, written class 0), one 4.5 mm off (no hit, written class 1); the last scan's
    nodule has no candidate near it (the generator missed it)."""
    ann = pd.read_csv(anon_dir / "annotations.csv", dtype={"seriesuid": str})
    rows = []
    for r in ann.itertuples(index=False):
        centre = np.array([r.coordX, r.coordY, r.coordZ])
        offsets = ([(3.0, 0.0, 0.0, 0), (0.0, 4.5, 0.0, 1)] if r.seriesuid != UIDS[-1]
                   else [(0.0, 0.0, 6.0, 1)])
        for dx, dy, dz, cls in offsets:
            x, y, z = centre + (dx, dy, dz)
            rows.append([r.seriesuid, x, y, z, 5.0 - dx, 4.0, "solid", cls, 0])
    path = tmp_path / "candidates" / "candidates.csv"
    path.parent.mkdir()
    pd.DataFrame(rows, columns=["seriesuid", "coordX", "coordY", "coordZ", "score", "diameter_mm",
                                "density", "class", "annotation_id"]).to_csv(path, index=False)
    return path


def test_generated_candidates_are_cut_and_labelled_by_the_hit_rule(volumes, anon_dir, generated,
                                                                   tmp_path):
    result = build_patches(volumes, anon_dir, tmp_path / "p", PARAMS, LOCAL1, generated)
    index = result.index
    assert len(index) == 2 * (len(UIDS) - 1) + 1 and result.rejected.empty
    hits = index[index["label"] == 1]
    assert len(hits) == len(UIDS) - 1 and UIDS[-1] not in set(hits["series_uid"])
    assert (hits["diameter_mm"] == 8.0).all() and hits["annotation_id"].notna().all()
    cubes = np.load(tmp_path / "p" / "cubes.npy")
    assert cubes.shape[0] == len(index)
    gen = result.generator
    assert (gen["nodules"], gen["nodules_found"]) == (len(UIDS), len(UIDS) - 1)
    assert gen["scans"] == len(UIDS) and gen["candidates"] == len(index)


def test_provided_track_writes_no_generator_record(volumes, anon_dir, tmp_path):
    result = build_patches(volumes, anon_dir, tmp_path / "p", PARAMS, LOCAL1)
    assert result.generator is None


def test_patches_stage_picks_the_table_by_candidates_source(volumes, anon_dir, generated,
                                                            tmp_path):
    params = write_params(tmp_path / "params.yaml", patches={"cube_mm": 9.0, "jobs": 1})
    stage = load_stage("patches")
    common = ["--volumes", str(volumes), "--tables", str(anon_dir), "--generated",
              str(generated), "--params", str(params)]
    out = {}
    for source in ("provided", "generated"):
        out[source] = tmp_path / source
        assert stage.main([*common, "--candidates-source", source, "--output",
                           str(out[source]), "--metrics", str(tmp_path / f"{source}.json")]) == 0
    assert not (out["provided"] / "generator.json").exists()
    record = json.loads((out["generated"] / "generator.json").read_text())
    assert record["sensitivity"] == pytest.approx((len(UIDS) - 1) / len(UIDS), abs=1e-4)
    index = pd.read_csv(out["generated"] / "index.csv")
    assert index["label"].sum() == len(UIDS) - 1
