import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.evaluation.froc_cli import main

ROOT = Path(__file__).resolve().parents[2]
HEADER_A = "seriesuid,coordX,coordY,coordZ,diameter_mm\n"
HEADER_R = "seriesuid,coordX,coordY,coordZ,probability\n"


@pytest.fixture
def files(tmp_path):
    """The two-scan example of test_froc.py plus an excluded finding and an empty third scan."""
    paths = {k: tmp_path / f"{k}.csv" for k in ("ann", "exc", "uids", "res")}
    paths["ann"].write_text(HEADER_A + "S1,0,0,0,10\nS1,50,0,0,4\nS2,0,0,0,6\n")
    paths["exc"].write_text(HEADER_A + "S2,10,10,10,-1\n")
    paths["uids"].write_text("S1\nS2\nS3\n")
    paths["res"].write_text(HEADER_R + "S1,1,0,0,0.9\nS1,0,2,0,0.6\nS1,53,0,0,0.8\n"
                            "S1,20,0,0,0.7\nS2,0,0,2,0.4\nS2,10,10,10,0.95\nS2,50,0,0,0.5\n"
                            "S9,0,0,0,0.99\n")
    return paths


def argv(files, out, *extra):
    return [str(files[k]) for k in ("ann", "exc", "uids", "res")] + [str(out), *extra]


def test_writes_json_csv_and_png(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(argv(files, out, "--bootstrap", "50", "--seed", "3")) == 0
    m = json.loads((out / "froc.json").read_text())
    # FPs 0.8, 0.7, 0.5 over 3 scans (0.95 is on the excluded finding, S9 is not listed);
    # nodules hit at 0.9 and 0.4 of 3: the kit's curve is fps [0, 0, 1, 1], sens [0, 1/3, 1/3, 2/3]
    assert m["sensitivity_at"] == pytest.approx(
        {"0.125": 1 / 3, "0.25": 1 / 3, "0.5": 1 / 3, "1": 2 / 3, "2": 2 / 3, "4": 2 / 3,
         "8": 2 / 3}, abs=1e-12)
    assert (m["n_nodules"], m["n_scans"], m["n_false_positives"]) == (3, 3, 3)
    assert m["n_ignored_on_excluded"] == 1
    assert m["cpm"] == pytest.approx((3 / 3 + 4 * 2 / 3) / 7)
    assert m["cpm_ci_low"] <= m["cpm"] <= m["cpm_ci_high"]
    assert m["bootstrap"]["samples"] == 50 and m["bootstrap"]["seed"] == 3
    curve = pd.read_csv(out / "froc.csv")
    assert list(curve.columns) == ["threshold", "fps_per_scan", "sensitivity"]
    assert curve["fps_per_scan"].is_monotonic_increasing
    assert (out / "froc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "CPM 0.524" in capsys.readouterr().out


def test_same_seed_same_interval(files, tmp_path):
    for name in ("a", "b"):
        assert main(argv(files, tmp_path / name, "--bootstrap", "30")) == 0
    assert ((tmp_path / "a" / "froc.json").read_text()
            == (tmp_path / "b" / "froc.json").read_text())


def test_no_bootstrap_gives_null_interval(files, tmp_path):
    assert main(argv(files, tmp_path / "o", "--bootstrap", "0")) == 0
    m = json.loads((tmp_path / "o" / "froc.json").read_text())
    assert m["cpm_ci_low"] is None and m["cpm_ci_high"] is None


@pytest.mark.parametrize(("key", "text", "message"), [
    ("res", None, "results not found"),
    ("res", "", "results is empty"),
    ("res", "seriesuid,coordX,coordY,coordZ\nS1,0,0,0\n", "no column 'probability'"),
    ("res", HEADER_R + "S1,0,0,0,0.5\nS1,0,zero,0,0.5\n", "line 3, column coordY: 'zero'"),
    ("res", HEADER_R + "S1,0,0,0,nan\n", "line 2, column probability: 'nan' is not a finite"),
    ("ann", HEADER_A + "S1,0,0,0\n", "line 2: 4 fields"),
    ("ann", HEADER_A, "no nodule in the 3 scans"),
    ("exc", "seriesuid,coordX,coordY,coordZ\n", "no column 'diameter_mm'"),
    ("uids", "seriesuid\nS1\n", "looks like a header"),
    ("uids", "S1\nS2\nS1\n", "line 3: series S1 already listed on line 1"),
    ("uids", "\n\n", "series-uids file is empty"),
])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, key, text, message):
    if text is None:
        files[key].unlink()
    else:
        files[key].write_text(text)
    assert main(argv(files, tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and str(files[key]) in err
    assert not (tmp_path / "out" / "froc.json").exists()


def test_runs_as_a_module(files, tmp_path):
    out = tmp_path / "out"
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "pipeline.evaluation.froc_cli",
                           *argv(files, out, "--bootstrap", "10")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "froc.json").read_text())["n_scans"] == 3
    files["res"] = tmp_path / "missing.csv"
    bad = subprocess.run([sys.executable, "-m", "pipeline.evaluation.froc_cli",
                          *argv(files, tmp_path / "out2")],
                         capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 2 and "not found" in bad.stderr
