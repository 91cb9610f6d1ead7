"""What is committed (dvc.lock, params.yaml, code, metrics/, plots/, reports/) agrees with itself.

`dvc status` on a checkout compares every stage's recorded hashes with the files present. Data
under data/ and models/ is absent from a fresh clone ("deleted", "not in cache") and is not
checked here; anything else that differs means main's metrics no longer come from main's code
and params, so `dvc metrics diff` between branches would not tell the truth: run `dvc repro` and
commit dvc.lock, metrics/, plots/ and reports/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ABSENT = {"deleted", "not in cache"}


def drift(status: dict[str, Any]) -> list[str]:
    """Lines ``stage: kind path -> change`` for every change other than absent data."""
    problems = []
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):  # e.g. "always changed"
                problems.append(f"{stage}: {entry}")
                continue
            for kind, changes in entry.items():
                for path, change in changes.items():
                    if not (isinstance(change, str) and change in ABSENT):
                        problems.append(f"{stage}: {kind} {path} -> {change}")
    return problems


def test_drift_ignores_absent_data_and_reports_modified_code_and_params():
    status = {"ingest": [{"changed deps": {"data/raw/x": "deleted"}},
                         {"changed outs": {"data/interim/a": "not in cache"}}],
              "train": [{"changed deps": {"src/pipeline/io.py": "modified",
                                          "params.yaml": {"train": "modified"}}}]}
    assert drift(status) == ["train: changed deps src/pipeline/io.py -> modified",
                             "train: changed deps params.yaml -> {'train': 'modified'}"]


def test_committed_lock_matches_code_params_and_metrics():
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    assert drift(json.loads(proc.stdout or "{}")) == []
