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
    "candidates": ("candidates", "max_candidates", ["--volumes", "{tmp}/missing", "--annotations",
                                                    "", "--output", "{tmp}/c.csv", "--metrics",
                                                    "{tmp}/m.json"]),
    "datacard": ("shift", "range_margin", ["--fingerprint", "{tmp}/missing", "--metrics",
                                           "{tmp}/m.json", "--plots", "{tmp}/plots", "--card",
                                           "{tmp}/card.md", "--figures", "{tmp}/fig"]),
}
BAD = {"n_patients": 0, "min_slices": 1, "max_date_shift_days": 0, "spacing_mm": -1.0,
       "cube_mm": 0.0, "folds": 1, "lr": -1.0, "bootstrap": -5, "opset": 7, "max_candidates": 0,
       "range_margin": -1.0}


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


BAD_CANDIDATES = "seriesuid,coordX,coordY,coordZ,class\n1.2.3,1.0,2.0,3.0,2\n"
BAD_ANNOTATIONS = "seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,1.0,oops,3.0,6.0\n"
RESAMPLE_JSON = ('{"spacing_mm": 1.0, "interpolator": "linear", "hu_range": [-1024, 3071], '
                 '"anti_alias": true, "lung_mask": false}')


def _malformed_anonymize(tmp):
    (tmp / "in").mkdir()
    (tmp / "candidates.csv").write_text(BAD_CANDIDATES)
    return ["--input", tmp / "in", "--output", tmp / "out", "--candidates",
            tmp / "candidates.csv"], "candidates.csv", "class"


def _malformed_resample(tmp):
    (tmp / "in").mkdir()
    (tmp / "in" / "series.csv").write_text("series_uid,patient_id\n1.2.3,P1\n")
    return ["--input", tmp / "in", "--output", tmp / "out"], "series.csv", "files"


def _volumes(tmp):
    (tmp / "vol").mkdir()
    from pipeline.imaging.volume_table import GEOMETRY

    row = {name: 1.0 for name in GEOMETRY.names}
    row.update(series_uid="1.2.3", patient_id="P1", file="1.2.3.nii.gz", lung_file="",
               direction="1 0 0 0 1 0 0 0 1")
    GEOMETRY.write(tmp / "vol" / GEOMETRY.file, GEOMETRY.frame([row]))
    (tmp / "vol" / "resample.json").write_text(RESAMPLE_JSON)
    return tmp / "vol"


def _malformed_patches(tmp):
    (tmp / "tables").mkdir()
    (tmp / "tables" / "candidates.csv").write_text(BAD_CANDIDATES)
    (tmp / "tables" / "annotations.csv").write_text(
        "seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,1.0,2.0,3.0,6.0\n")
    return ["--volumes", _volumes(tmp), "--tables", tmp / "tables", "--output", tmp / "out",
            "--metrics", tmp / "m.json"], "candidates.csv", "class"


def _malformed_candidates(tmp):
    (tmp / "annotations.csv").write_text(BAD_ANNOTATIONS)
    return ["--volumes", _volumes(tmp), "--annotations", tmp / "annotations.csv", "--output",
            tmp / "c.csv", "--metrics", tmp / "m.json"], "annotations.csv", "coordY"


def _malformed_train(tmp):
    from pipeline.data.toy_patches import write_toy_patches

    patches = write_toy_patches(tmp / "patches", n_candidates=8, cube_size=32)
    (tmp / "f.csv").write_text("patient_id,fold,positives,candidates\nP1,zero,1,4\n")
    return ["--patches", patches, "--folds", tmp / "f.csv", "--output", tmp / "out", "--live",
            "", "--timing", tmp / "t.json"], "f.csv", "fold"


def _malformed_evaluate(tmp):
    from pipeline.data.toy_patches import write_toy_patches

    patches = write_toy_patches(tmp / "patches", n_candidates=8)
    for role in ("model", "baseline"):
        for fold in range(5):
            d = tmp / "cv" / role / f"fold{fold}"
            d.mkdir(parents=True)
            (d / "oof.csv").write_text("fold,series_uid,patient_id,candidate_id,label\n"
                                       f"{fold},1.2.{fold},P{fold},c0,maybe\n")
    return ["--folds-dir", tmp / "cv", "--patches", patches, "--metrics",
            tmp / "m.json"], "oof.csv", "label"


MALFORMED = {"anonymize": _malformed_anonymize, "resample": _malformed_resample,
             "patches": _malformed_patches, "candidates": _malformed_candidates,
             "train": _malformed_train, "evaluate": _malformed_evaluate}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_csv_prints_one_line_naming_file_and_column_and_exits_2(name, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.setenv("PIPELINE_DEID_KEY", "a-test-key-of-thirty-two-bytes-or-more-0123")
    argv, file, column = MALFORMED[name](tmp_path)
    code = _stage(name).main([*map(str, argv), "--params", str(_params(tmp_path))])
    line = _one_line(capsys)
    assert code == 2 and file in line and column in line, line


def test_malformed_candidates_csv_names_file_row_and_column(tmp_path, capsys):
    from pipeline.data.toy_patches import write_toy_patches

    patches = write_toy_patches(tmp_path / "patches", n_candidates=8)
    (patches / "index.csv").write_text("row,series_uid,patient_id,label\n0,1.2,P1,notanumber\n")
    code = _stage("folds").main(["--patches", str(patches), "--output", str(tmp_path / "f.csv"),
                                 "--metrics", str(tmp_path / "m.json"),
                                 "--params", str(_params(tmp_path))])
    line = _one_line(capsys)
    assert code == 2 and "index.csv" in line
