"""stages/anonymize.py run in-process: exit codes, outputs, pipeline-mode tables."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pydicom
import pytest
import yaml

from conftest import write_phi_series
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.actions import DeidContext
from pipeline.dicom.deid.pseudonyms import DEMO_KEY_ID, KEY_ENV_VAR
from pipeline.io import output_lock, read_json
from pipeline.synth.marker import write_marker

REPO = Path(__file__).resolve().parents[3]


def stage_main():
    spec = importlib.util.spec_from_file_location("anonymize_stage", REPO / "stages/anonymize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def params_file(tmp_path: Path, synthetic: bool = True) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["synthetic"] = synthetic
    params["anonymize"]["jobs"] = 1
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--metrics", str(tmp_path / "m.json"), "--params", str(params_file(tmp_path)), *extra]


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)


def test_folder_mode_exits_0_and_writes_verified_outputs(tmp_path, env_key):
    write_phi_series(tmp_path / "in" / "Müller_Hans")
    assert stage_main()(args(tmp_path)) == 0
    series = pd.read_csv(tmp_path / "out" / "series.csv")
    assert len(series) == 1 and series.n_slices[0] == 3
    assert all((tmp_path / "out" / f).is_file() for f in series.files[0].split("|"))
    metrics = read_json(tmp_path / "m.json")
    assert metrics["leaks_found"] == 0 and metrics["files"] == 3
    assert metrics["key_id"] == "synthetic-demo" and metrics["key_source"] == "env"
    assert metrics["key_fingerprint"] == env_key.fingerprint


def test_missing_key_for_real_data_exits_2(tmp_path, capsys):
    write_phi_series(tmp_path / "in")
    argv = args(tmp_path)
    argv[argv.index("--params") + 1] = str(params_file(tmp_path, synthetic=False))
    assert stage_main()(argv) == 2
    assert KEY_ENV_VAR in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_leak_exits_3_and_leaves_no_output(tmp_path, monkeypatch):
    write_phi_series(tmp_path / "in")
    monkeypatch.setattr(DeidContext, "carries_identity", lambda self, elem, vr: False)
    real = cohort.build_profile

    def broken(options):
        profile = real(options)
        return type(profile)({**profile.actions, 0x00080080: "K"}, profile.options,
                             profile.safe_private, profile.safe_creators)

    monkeypatch.setattr(cohort, "build_profile", broken)
    key = tmp_path / "key"
    key.write_bytes(b"0123456789abcdef0123")
    assert stage_main()(args(tmp_path, "--key-file", str(key))) == 3
    assert not (tmp_path / "out").exists()
    assert read_json(tmp_path / "m.json")["leaks_found"] == 3


def test_pipeline_mode_maps_tables_and_drops_unkept_series(tmp_path, env_key):
    paths = write_phi_series(tmp_path / "in" / "a")
    uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    rel = "|".join(p.relative_to(tmp_path / "in").as_posix() for p in paths)
    pd.DataFrame([{"series_uid": uid, "slice_spacing_mm": 2.5, "files": rel}]).to_csv(
        tmp_path / "series_in.csv", index=False)
    pd.DataFrame({"seriesuid": [uid, "1.2.3.404"], "coordX": [1.0, 2.0], "coordY": [0.0, 0.0],
                  "coordZ": [0.0, 0.0], "diameter_mm": [5.0, 6.0]}).to_csv(
        tmp_path / "ann.csv", index=False)
    extra = ["--series-table", str(tmp_path / "series_in.csv"), "--annotations",
             str(tmp_path / "ann.csv")]
    assert stage_main()(args(tmp_path, *extra)) == 0
    series = pd.read_csv(tmp_path / "out" / "series.csv", dtype=str)
    ann = pd.read_csv(tmp_path / "out" / "annotations.csv", dtype=str)
    assert list(ann.seriesuid) == [series.series_uid[0]]
    assert series.files[0].split("|")[0] == f"dicom/{series.series_uid[0]}/0000.dcm"
    assert read_json(tmp_path / "m.json")["rows_dropped"] == {"annotations": 1}


def test_help_works(capsys):
    with pytest.raises(SystemExit) as exc:
        stage_main()(["--help"])
    assert exc.value.code == 0 and "--key-file" in capsys.readouterr().out


def key_env(monkeypatch) -> None:
    monkeypatch.setenv(KEY_ENV_VAR, "stage-test-key-0123456789")


def test_demo_key_refused_on_a_folder_given_by_hand(tmp_path, capsys):
    write_phi_series(tmp_path / "in")
    assert stage_main()(args(tmp_path)) == 2
    assert "synthetic-cohort.json" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_demo_key_on_the_synthesized_cohort_records_its_fixed_id(tmp_path):
    write_phi_series(tmp_path / "synthetic" / "dicom")
    write_marker(tmp_path / "synthetic")
    argv = args(tmp_path)
    argv[argv.index("--input") + 1] = str(tmp_path / "synthetic" / "dicom")
    assert stage_main()(argv) == 0
    metrics = read_json(tmp_path / "m.json")
    assert metrics["key_id"] == DEMO_KEY_ID and metrics["key_source"] == "demo"


@pytest.mark.parametrize("make_input", [lambda p: None, lambda p: p.mkdir(parents=True)])
def test_missing_or_empty_input_exits_2_and_keeps_the_previous_output(tmp_path, monkeypatch,
                                                                      capsys, make_input):
    key_env(monkeypatch)
    write_phi_series(tmp_path / "in")
    assert stage_main()(args(tmp_path)) == 0
    before = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*"))
    shutil.rmtree(tmp_path / "in")
    make_input(tmp_path / "in")
    assert stage_main()(args(tmp_path)) == 2
    assert "expected a folder of DICOM files" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*")) == before


def test_plain_mode_writes_metrics_and_quarantine_paths_beside_nothing_else(tmp_path, monkeypatch):
    key_env(monkeypatch)
    write_phi_series(tmp_path / "in" / "Müller_Hans")
    (tmp_path / "in" / "Müller_Hans" / "notes.txt").write_text("Hans Müller")
    argv = ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--params", str(params_file(tmp_path))]
    monkeypatch.chdir(tmp_path)
    assert stage_main()(argv) == 0
    assert read_json(tmp_path / "out" / "metrics.json")["items_quarantined"] == 1
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    item = quarantine.item[0]
    assert item.startswith("file:")
    assert "Müller" not in (tmp_path / "out" / "quarantine.csv").read_text()
    paths = pd.read_csv(tmp_path / "out.quarantine-paths.csv")
    assert list(paths.itertuples(index=False, name=None)) == [(item, "Müller_Hans/notes.txt")]
    assert (tmp_path / "out.quarantine-paths.csv").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".out.lock", "in", "out", "out.quarantine-paths.csv", "params.yaml"]


def test_output_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        stage_main()(["--input", "x"])
    assert exc.value.code == 2 and "--output" in capsys.readouterr().err


def test_annotations_excluded_are_pseudonymized_like_annotations(tmp_path, monkeypatch):
    key_env(monkeypatch)
    paths = write_phi_series(tmp_path / "in" / "a")
    uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    rel = "|".join(p.relative_to(tmp_path / "in").as_posix() for p in paths)
    pd.DataFrame([{"series_uid": uid, "slice_spacing_mm": 2.5, "files": rel}]).to_csv(
        tmp_path / "series_in.csv", index=False)
    for name, diameter in (("ann.csv", 5.0), ("excl.csv", 2.5)):
        pd.DataFrame({"seriesuid": [uid, "1.2.3.404"], "coordX": [1.0, 2.0], "coordY": [0.0, 0.0],
                      "coordZ": [0.0, 0.0], "diameter_mm": [diameter, 6.0]}).to_csv(
            tmp_path / name, index=False)
    extra = ["--series-table", str(tmp_path / "series_in.csv"), "--annotations",
             str(tmp_path / "ann.csv"), "--annotations-excluded", str(tmp_path / "excl.csv")]
    assert stage_main()(args(tmp_path, *extra)) == 0
    series = pd.read_csv(tmp_path / "out" / "series.csv", dtype=str)
    excluded = pd.read_csv(tmp_path / "out" / "annotations_excluded.csv", dtype=str)
    assert list(excluded.seriesuid) == [series.series_uid[0]] and list(excluded.diameter_mm) == [
        "2.5"]
    assert read_json(tmp_path / "m.json")["rows_dropped"] == {"annotations": 1,
                                                             "annotations_excluded": 1}


ANN_HEADER = "seriesuid,coordX,coordY,coordZ,diameter_mm\n"


@pytest.mark.parametrize("body, expected", [
    (ANN_HEADER + "1.2.3,abc,0,0,5\n", "row 1 (line 2), column coordX"),
    (ANN_HEADER + "1.2.3,1,0,nan,5\n", "row 1 (line 2), column coordZ"),
    (ANN_HEADER, "no rows"),
    ("", "empty file"),
    (ANN_HEADER + "1.2,1,0,0,5\n1.3,1,0,0,5\n1.2,1,0,0,5\n", "row 3 (line 4): duplicates row 1"),
])
def test_bad_annotation_table_exits_2_with_one_line(tmp_path, monkeypatch, capsys, body,
                                                    expected):
    key_env(monkeypatch)
    write_phi_series(tmp_path / "in")
    (tmp_path / "ann.csv").write_text(body)
    assert stage_main()(args(tmp_path, "--annotations", str(tmp_path / "ann.csv"))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ann.csv" in err and expected in err
    assert not (tmp_path / "out").exists()


def test_concurrent_run_on_the_same_output_is_refused(tmp_path, monkeypatch, capsys):
    key_env(monkeypatch)
    write_phi_series(tmp_path / "in")
    with output_lock(tmp_path / "out"):
        assert stage_main()(args(tmp_path)) == 2
    assert "another run is writing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert stage_main()(args(tmp_path)) == 0


def test_output_inside_the_input_is_refused(tmp_path, monkeypatch, capsys):
    key_env(monkeypatch)
    write_phi_series(tmp_path / "in")
    argv = args(tmp_path)
    argv[argv.index("--output") + 1] = str(tmp_path / "in" / "out")
    assert stage_main()(argv) == 2
    assert "must not be inside the input" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_for(condition, limit_s: float = 60.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_kill_9_ends_the_workers_and_the_next_run_removes_the_temporaries(tmp_path, monkeypatch):
    key_env(monkeypatch)
    for s in range(8):
        write_phi_series(tmp_path / "in" / f"s{s}", n=12, size=64)
    argv = args(tmp_path)  # writes params.yaml (jobs 1): make it 2 after
    params = yaml.safe_load((tmp_path / "params.yaml").read_text(encoding="utf-8"))
    params["anonymize"]["jobs"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(REPO / "stages/anonymize.py"), *argv],
                            env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2 and any(
            tmp_path.glob(".out.*/dicom/*")))
        workers = _children(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert _wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers))
    assert [p.name for p in tmp_path.glob(".out.*") if p.is_dir()]  # left by the killed run
    assert stage_main()(argv) == 0
    assert [p.name for p in tmp_path.glob(".out.*")] == [".out.lock"]
    assert len(pd.read_csv(tmp_path / "out" / "series.csv")) == 8
