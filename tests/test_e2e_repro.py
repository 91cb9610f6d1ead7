"""End to end: `dvc repro` on a tiny params file in a temporary copy of the repository.

Proves the pipeline's promises on real (tiny) data: every stage runs from DICOM to ONNX, the
de-identification verifies with no leak, `dvc repro --force` reproduces every output byte for byte,
and a parameter change invalidates exactly the stages downstream of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ["synthesize", "ingest", "anonymize", "resample", "patches", "train", "evaluate", "export"]

TINY = {
    "synthesize": {"profile": "tiny", "n_patients": 6, "nodules_per_patient": [2, 3],
                   "nodule_diameter_mm": [10.0, 20.0], "negatives_per_nodule": 3.0, "jobs": 2},
    "train": {"epochs": 2, "batch_size": 16, "early_stopping_patience": 2},
    "evaluate": {"bootstrap": 50, "montage_per_group": 2},
    "export": {"large_batch": 16},
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.is_file() or rel.startswith(("metrics/", "plots/", "reports/")) \
                or rel == "dvc.lock":
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def _tiny_params(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _run(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "CI": "true"}
    env.pop("PIPELINE_DEID_KEY", None)
    proc = subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def _out_hashes(repo: Path) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    hashes = {}
    for name, stage in lock["stages"].items():
        for out in stage.get("outs", []):
            hashes[f"{name}:{out['path']}"] = out["md5"]
    return hashes


def _changed_stages(repo: Path) -> set[str]:
    status = json.loads(_run(repo, sys.executable, "-m", "dvc", "status", "--json"))
    return {name.split(":")[0] for name in status}


def _repro_ran(repo: Path) -> set[str]:
    """Run `dvc repro` and return the stages it actually ran."""
    out = _run(repo, sys.executable, "-m", "dvc", "repro")
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    _copy_repo(repo)
    _tiny_params(repo)
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm",
         "tiny")
    _run(repo, sys.executable, "-m", "dvc", "repro")
    return repo


def test_repro_runs_every_stage_and_deidentification_verifies(tiny_repo):
    lock = yaml.safe_load((tiny_repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(STAGES)
    anonymize = json.loads((tiny_repo / "metrics/anonymize.json").read_text())
    assert anonymize["leaks_found"] == 0 and anonymize["files"] > 0
    evaluate = json.loads((tiny_repo / "metrics/evaluate.json").read_text())
    assert 0.0 <= evaluate["test"]["auc"]["value"] <= 1.0
    assert (tiny_repo / "models/model.onnx").stat().st_size > 0
    assert (tiny_repo / "reports/model_card.md").read_text().startswith("#")


def test_noop_repro_runs_nothing(tiny_repo):
    assert _changed_stages(tiny_repo) == set()
    assert _repro_ran(tiny_repo) == set()


def test_forced_repro_gives_byte_identical_outputs(tiny_repo):
    before = _out_hashes(tiny_repo)
    _run(tiny_repo, sys.executable, "-m", "dvc", "repro", "--force")
    after = _out_hashes(tiny_repo)
    volatile = {"export:reports/export_latency.json", "train:reports/train_timing.json"}
    differing = sorted(k for k in before if before[k] != after.get(k) and k not in volatile)
    assert differing == []


def test_param_change_reruns_exactly_the_downstream_stages(tiny_repo):
    """Last in this module: it leaves the tiny repo on changed params."""
    path = tiny_repo / "params.yaml"
    for section, key, value, expected in [
        ("train", "lr", 0.0005, {"train", "evaluate", "export"}),
        ("resample", "spacing_mm", 1.1, {"resample", "patches", "train", "evaluate", "export"}),
    ]:
        params = yaml.safe_load(path.read_text())
        params[section][key] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        assert _repro_ran(tiny_repo) == expected, f"after changing {section}.{key}"
