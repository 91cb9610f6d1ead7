"""The CI gate that compares reproduced metrics with committed ones."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from metrics_drift import compare  # noqa: E402


def _write(folder: Path, name: str, data: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(data))


def test_identical_metrics_pass_and_timings_are_ignored(tmp_path):
    _write(tmp_path / "a", "m.json", {"auc": 0.9, "train_seconds": 10.0})
    _write(tmp_path / "b", "m.json", {"auc": 0.9, "train_seconds": 55.0})
    assert compare(tmp_path / "a", tmp_path / "b", rtol=0.02, atol=0.02) == []


def test_drift_beyond_tolerance_is_reported(tmp_path):
    _write(tmp_path / "a", "m.json", {"test": {"auc": 0.90}, "n": 3})
    _write(tmp_path / "b", "m.json", {"test": {"auc": 0.80}, "n": 3})
    problems = compare(tmp_path / "a", tmp_path / "b", rtol=0.02, atol=0.02)
    assert problems == ["m.json:test.auc: committed 0.9, reproduced 0.8"]


def test_missing_reproduced_file_is_reported(tmp_path):
    _write(tmp_path / "a", "m.json", {"auc": 0.9})
    (tmp_path / "b").mkdir()
    assert compare(tmp_path / "a", tmp_path / "b", 0.02, 0.02) == ["m.json: not reproduced"]
