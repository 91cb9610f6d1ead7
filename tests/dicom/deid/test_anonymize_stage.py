"""stages/anonymize.py run in-process: exit codes, outputs, pipeline-mode tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pydicom
import pytest
import yaml

from conftest import write_phi_series
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.actions import DeidContext
from pipeline.dicom.deid.pseudonyms import KEY_ENV_VAR
from pipeline.io import read_json

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
