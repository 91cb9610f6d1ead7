"""The data card renders with and without a baseline; the stage compares with a git ref."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

from pipeline.fingerprint.card import render_card
from pipeline.fingerprint.shift import ShiftParams
from pipeline.io import write_json

REPO = Path(__file__).resolve().parents[2]
PARAMS = ShiftParams(50.0, 0.05, True, True)
FOLDS = {"folds": 2, "seed": 7, "per_fold": [
    {"fold": 0, "patients": 2, "candidates": 9, "positives": 2},
    {"fold": 1, "patients": 1, "candidates": 5, "positives": 1}]}


def test_card_without_baseline_has_no_comparison(two_cohorts):
    _, fp_a, _, _ = two_cohorts
    card = render_card(fp_a, {"folds": FOLDS}, PARAMS)
    assert card.startswith("# Data card")
    assert "3 CT series kept by ingest" in card
    assert "| 1 | 1 | 5 | 1 |" in card
    assert "Compared with the previous version" not in card
    assert "$" not in card  # every placeholder filled


def test_card_with_baseline_lists_changes_and_the_new_kernel(two_cohorts):
    _, fp_a, _, fp_b = two_cohorts
    card = render_card(fp_b, {}, PARAMS, baseline=fp_a, baseline_name="main")
    section = card.split("## Compared with the previous version (main)")[1]
    assert "| series | 3 | 6 | +3 |" in section
    assert "never seen in training" in section


def _stage():
    spec = importlib.util.spec_from_file_location("datacard_stage", REPO / "stages/datacard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_stage_compares_with_the_parts_committed_at_a_ref(two_cohorts, tmp_path, monkeypatch):
    _, fp_a, _, fp_b = two_cohorts
    project = tmp_path / "p"
    (project / "reports" / "fingerprint").mkdir(parents=True)
    (project / "params.yaml").write_text(
        "data: {dicom_dir: d, annotations_csv: a, candidates_csv: c, synthetic: true}\n"
        "shift: {lung_hu_median_delta: 50.0, range_margin: 0.05, unseen_scanner: true, "
        "unseen_kernel: true}\n")
    for fp in (fp_a, fp_b):
        for name, part in fp.items():
            write_json(project / "reports" / "fingerprint" / f"{name}.json", part)
        if fp is fp_a:
            _git(project, "init", "-q")
            _git(project, "add", "-A")
            _git(project, "commit", "-qm", "a")
    monkeypatch.chdir(project)
    assert _stage().main(["--baseline-ref", "HEAD"]) == 0
    card = (project / "reports" / "data_card.md").read_text()
    assert "## Compared with the previous version (HEAD)" in card
    assert "![HU in the lung](data_figures/lung_hu.png)" in card
    assert (project / "reports" / "data_figures" / "lung_hu.png").stat().st_size > 1000
    assert json.loads((project / "metrics" / "data_fingerprint.json").read_text())["series"] == 6
    assert (project / "plots" / "data" / "nodule_diameter.csv").read_text().startswith(
        "diameter_mm,nodules,fraction\n")
    assert _stage().main(["--baseline-ref", "no-such-ref"]) == 2
