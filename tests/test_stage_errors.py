"""Every stage script's one exit path: a bad param, a missing input or a malformed CSV prints one
line naming the key or file and exits 2 (no traceback)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# stage -> (section with a bad value, the key, flags that name inputs)
STAGES = {
    "synthesize": ("synthesize", "n_patients", ["--output", "{tmp}/out", "--preview",
                                                "{tmp}/p.png", "--metrics", "{tmp}/m.json"]),
    "ingest": ("ingest", "min_slices", ["--input", "{tmp}/missing", "--output", "{tmp}/out",
                                        "--metrics", "{tmp}/m.json"]),
    "anonymize": ("anonymize", "max_date_shift_days", ["--input", "{tmp}/missing", "--output",
                                                       "{tmp}/out"]),
    "resample": ("resample", "spacing_mm", ["--input", "{tmp}/missing", "--output", "{tmp}/out"]),
    "patches": ("patches", "cube_mm", ["--volumes", "{tmp}/missing", "--tables", "{tmp}/missing",
                                       "--output", "{tmp}/out", "--metrics", "{tmp}/m.json"]),
    "folds": ("cv", "folds", ["--patches", "{tmp}/missing", "--output", "{tmp}/f.csv",
                              "--metrics", "{tmp}/m.json"]),
    "train": ("train", "lr", ["--patches", "{tmp}/missing", "--folds", "{tmp}/f.csv",
                              "--output", "{tmp}/out", "--live", "", "--timing", "{tmp}/t.json"]),
    "evaluate": ("evaluate", "bootstrap", ["--folds-dir", "{tmp}/missing", "--patches",
                                           "{tmp}/missing", "--metrics", "{tmp}/m.json"]),
    "export": ("export", "opset", ["--folds-dir", "{tmp}/missing", "--patches", "{tmp}/missing",
                                   "--output", "{tmp}/m.onnx", "--metrics", "{tmp}/m.json"]),
}
BAD = {"n_patients": 0, "min_slices": 1, "max_date_shift_days": 0, "spacing_mm": -1.0,
       "cube_mm": 0.0, "folds": 1, "lr": -1.0, "bootstrap": -5, "opset": 7}


def _stage(name):
    spec = importlib.util.spec_from_file_location(f"errors_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params(tmp_path: Path, section: str | None = None, key: str | None = None) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    if section:
        params[section][key] = BAD[key]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _argv(name, tmp_path, params):
    flags = [f.format(tmp=tmp_path) for f in STAGES[name][2]]
    return [*flags, "--params", str(params)]


def _one_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_bad_param_prints_one_line_naming_the_key_and_exits_2(name, tmp_path, capsys):
    section, key, _ = STAGES[name]
    params = _params(tmp_path, section, key)
    (tmp_path / "missing").mkdir()
    assert _stage(name).main(_argv(name, tmp_path, params)) == 2
    assert f"{section}.{key}" in _one_line(capsys)


@pytest.mark.parametrize("name", sorted(set(STAGES) - {"synthesize"}))
def test_missing_input_prints_one_line_naming_it_and_exits_2(name, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setenv("PIPELINE_DEID_KEY", "a-test-key-of-thirty-two-bytes-or-more-0123")
    assert _stage(name).main(_argv(name, tmp_path, _params(tmp_path))) == 2
    assert "missing" in _one_line(capsys)


def test_malformed_candidates_csv_names_file_row_and_column(tmp_path, capsys):
    from pipeline.data.toy_patches import write_toy_patches

    patches = write_toy_patches(tmp_path / "patches", n_candidates=8)
    (patches / "index.csv").write_text("row,series_uid,patient_id,label\n0,1.2,P1,notanumber\n")
    code = _stage("folds").main(["--patches", str(patches), "--output", str(tmp_path / "f.csv"),
                                 "--metrics", str(tmp_path / "m.json"),
                                 "--params", str(_params(tmp_path))])
    line = _one_line(capsys)
    assert code == 2 and "index.csv" in line
