"""stages/ingest.py: the command-line contract (flags, outputs, exit code)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def _stage():
    spec = importlib.util.spec_from_file_location("ingest_stage", REPO / "stages" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_writes_series_rejected_and_metrics(tmp_path, make_ct_series):
    make_ct_series(tmp_path / "in" / "a")
    (tmp_path / "in" / "junk").write_text("x")
    out, metrics = tmp_path / "out", tmp_path / "metrics" / "ingest.json"
    code = _stage().main(["--input", str(tmp_path / "in"), "--output", str(out),
                          "--metrics", str(metrics), "--params", str(REPO / "params.yaml")])
    assert code == 0
    series = pd.read_csv(out / "series.csv", dtype=str, keep_default_na=False)
    rejected = pd.read_csv(out / "rejected.csv", dtype=str, keep_default_na=False)
    assert series.loc[0, "files"].startswith("a/f000.dcm|a/f001.dcm")
    assert list(rejected.columns) == ["path", "series_uid", "reason"]
    assert rejected[["path", "series_uid"]].values.tolist() == [["junk", ""]]
    assert rejected.loc[0, "reason"].startswith("not DICOM:")
    assert json.loads(metrics.read_text())["series_kept"] == 1


def test_stage_outputs_are_byte_identical_across_runs(tmp_path, make_ct_series):
    make_ct_series(tmp_path / "in")
    outputs = []
    for run in ("1", "2"):
        _stage().main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / run),
                       "--metrics", str(tmp_path / run / "m.json"),
                       "--params", str(REPO / "params.yaml")])
        outputs.append([(tmp_path / run / n).read_bytes()
                        for n in ("series.csv", "rejected.csv", "m.json")])
    assert outputs[0] == outputs[1]


def test_stage_fails_when_no_series_is_usable(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "junk").write_bytes(b"\0" * 128 + b"DICM" + b"x")  # DICOM, unreadable
    code = _stage().main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                          "--metrics", str(tmp_path / "m.json"),
                          "--params", str(REPO / "params.yaml")])
    assert code == 1
    assert (tmp_path / "out" / "rejected.csv").is_file()


def test_stage_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as done:
        _stage().main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--input", "--output", "--metrics", "--params"))


@pytest.mark.parametrize("make_input", [lambda p: None, lambda p: p.mkdir()])
def test_missing_or_empty_input_exits_2_and_keeps_previous_outputs(tmp_path, capsys, make_input):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "series.csv").write_text("previous")
    make_input(tmp_path / "in")
    code = _stage().main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                          "--metrics", str(tmp_path / "m.json"),
                          "--params", str(REPO / "params.yaml")])
    assert code == 2 and "expected a folder of DICOM files" in capsys.readouterr().err
    assert (tmp_path / "out" / "series.csv").read_text() == "previous"
