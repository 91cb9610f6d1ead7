"""Scaling out: the preprocessing stages give byte-identical outputs whichever engine runs them.

A tiny synthetic cohort goes through ingest, anonymize, resample and patches (the library calls
of the stage scripts) with the in-process loop (``jobs=1``), the local process pool (``jobs=2``)
and a dask.distributed ``LocalCluster`` of two worker processes; every output file is hashed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.data.patches import build_patches, write_patch_tables
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.pseudonyms import KEY_ENV_VAR, load_key
from pipeline.dicom.scan import ingest_scanner, scan_folder
from pipeline.imaging.resample_cohort import resample_cohort, write_resample_tables
from pipeline.io import read_csv, write_csv, write_json
from pipeline.parallel import ExecutorParams
from pipeline.params import load_params
from pipeline.synth.cohort import synthesize_cohort

distributed = pytest.importorskip("distributed")
# one xdist worker holds the cohort and the cluster for both tests (with pytest 9.2 and
# xdist 3.8 `--dist loadgroup` ignores the mark: pytest-xdist#1386; `--dist loadfile` works)
pytestmark = pytest.mark.xdist_group("executor_equivalence")

REPO = Path(__file__).resolve().parents[1]
PARAMS = load_params(REPO / "params.yaml")
# 3 patients, 48x48 slices over a 40 mm slab: every transfer syntax, a split study, a second series
SYNTH = dataclasses.replace(PARAMS.synthesize, n_patients=3, rle_fraction=0.34,
                            implicit_vr_fraction=0.34, split_study_fraction=0.34,
                            second_series_fraction=0.34, feet_first_fraction=0.34,
                            prone_fraction=0.34, nodules_per_patient=(1, 2), jobs=1)
ROWS, Z_EXTENT_MM = 48, 40.0


def file_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def preprocess(raw: Path, out: Path, executor: ExecutorParams) -> dict[str, str]:
    """Ingest, anonymize, resample and patches as the stage scripts call them; hashes of ``out``."""
    ingest = scan_folder(raw / "dicom", PARAMS.ingest, executor)
    write_csv(out / "ingest" / "series.csv", ingest.series)
    write_csv(out / "ingest" / "rejected.csv", ingest.rejected)

    anon = out / "anonymized"
    anon.mkdir(parents=True)
    settings = cohort.DeidSettings.from_params(PARAMS.anonymize,
                                               load_key(None, True, raw / "dicom"))
    sources = cohort.sources_from_series_table(read_csv(out / "ingest" / "series.csv"))
    report = cohort.anonymize_cohort(sources, raw / "dicom", anon, settings, executor)
    assert report.leaks == []
    for name in ("annotations", "candidates"):
        table, _ = cohort.map_series_table(read_csv(raw / f"{name}.csv"), report.uid_map)
        write_csv(anon / f"{name}.csv", table)
    write_csv(anon / "series.csv", report.series)
    write_csv(anon / "quarantine.csv", report.quarantine)

    volumes = out / "volumes"
    resampled = resample_cohort(anon, volumes, PARAMS.resample, executor,
                                scan=ingest_scanner(PARAMS.ingest, executor))
    write_resample_tables(volumes, resampled, PARAMS.resample)

    patches = out / "patches"
    result = build_patches(volumes, anon, patches, PARAMS.patches, executor)
    write_patch_tables(patches, result)
    write_json(out / "data.json", result.metrics)
    return file_hashes(out)


def tasks_done(cluster: distributed.LocalCluster, name: str) -> int:
    """How many tasks of function ``name`` finished on the cluster (its scheduler is in-process)."""
    prefix = cluster.scheduler.task_prefixes.get(name)
    return 0 if prefix is None else prefix.state_counts["memory"]


@pytest.fixture(scope="module")
def raw_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("equivalence") / "raw"
    synthesize_cohort(out, SYNTH, ExecutorParams(jobs=1), rows=ROWS, z_extent_mm=Z_EXTENT_MM)
    return out


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _demo_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)  # the synthetic cohort's public demo key


@pytest.mark.slow
def test_in_process_local_pool_and_dask_give_byte_identical_outputs(raw_cohort, dask_cluster,
                                                                    tmp_path):
    serial = preprocess(raw_cohort, tmp_path / "jobs1", ExecutorParams(kind="local", jobs=1))
    pooled = preprocess(raw_cohort, tmp_path / "jobs2", ExecutorParams(kind="local", jobs=2))
    dasked = preprocess(raw_cohort, tmp_path / "dask",
                        ExecutorParams(kind="dask", address=dask_cluster.scheduler_address))
    for task in ("read_headers_chunk", "anonymize_series", "resample_series", "extract_series"):
        assert tasks_done(dask_cluster, task) > 0, f"{task} did not run on the cluster"
    assert sum(name.endswith(".dcm") for name in serial) > 3 * 10
    assert sum(name.endswith(".nii.gz") for name in serial) >= 2 * 3  # volume + lung mask
    assert {"patches/cubes.npy", "patches/index.csv"} <= set(serial)
    assert pooled == serial
    assert dasked == serial


def _ingest_stage():
    spec = importlib.util.spec_from_file_location("ingest_stage_scaling",
                                                  REPO / "stages" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params_file(path: Path, kind: str, address: str | None) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["executor"] = {"kind": kind, "address": address}
    raw["ingest"]["jobs"] = 2
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_ingest_stage_runs_on_dask_from_params(raw_cohort, dask_cluster, tmp_path):
    outputs = {}
    before = tasks_done(dask_cluster, "read_headers_chunk")
    for kind, address in (("local", None), ("dask", dask_cluster.scheduler_address)):
        params = _params_file(tmp_path / f"params-{kind}.yaml", kind, address)
        assert load_params(params).executor.kind == kind
        out = tmp_path / kind
        code = _ingest_stage().main(["--input", str(raw_cohort / "dicom"), "--output", str(out),
                                     "--metrics", str(out / "ingest.json"),
                                     "--params", str(params)])
        assert code == 0
        outputs[kind] = file_hashes(out)
    assert set(outputs["dask"]) == {"series.csv", "rejected.csv", "ingest.json"}
    assert outputs["dask"] == outputs["local"]
    assert tasks_done(dask_cluster, "read_headers_chunk") > before
