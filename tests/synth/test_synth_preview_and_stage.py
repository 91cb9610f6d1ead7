"""The preview PNG is deterministic; the stage script writes every output from a params file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.synth.preview import save_preview

REPO = Path(__file__).resolve().parents[2]


def test_preview_png_is_byte_identical_across_runs(tiny_cohort, tmp_path):
    _, result = tiny_cohort
    previews = [p.preview for p in result.patients if p.preview is not None]
    assert previews
    save_preview(previews, tmp_path / "a.png")
    save_preview(previews, tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == (tmp_path / "b.png").read_bytes()


def test_stage_script_help_works():
    out = subprocess.run([sys.executable, str(REPO / "stages/synthesize.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "--preview" in out.stdout


def test_stage_main_writes_cohort_preview_and_metrics(tmp_path, monkeypatch):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["synthesize"].update(n_patients=1, jobs=1, second_series_fraction=0.0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    monkeypatch.chdir(tmp_path)
    import synthesize

    code = synthesize.main(["--output", "raw", "--preview", "preview.png", "--metrics", "m.json",
                            "--params", "params.yaml"])
    assert code == 0
    assert (tmp_path / "raw/annotations.csv").exists()
    assert (tmp_path / "raw/candidates.csv").exists()
    assert any((tmp_path / "raw/dicom").rglob("*"))
    assert (tmp_path / "preview.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["patients"] == 1 and metrics["slices"] > 40
