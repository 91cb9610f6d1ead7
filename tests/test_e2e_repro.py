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
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FOLDS = 3
STAGES = ["synthesize", "ingest", "anonymize", "resample", "candidates", "patches", "folds",
          *[f"train@{i}" for i in range(FOLDS)], *[f"train_baseline@{i}" for i in range(FOLDS)],
          "datacard", "evaluate", "export"]
TRAINS = {*[f"train@{i}" for i in range(FOLDS)]}

TINY = {
    "synthesize": {"profile": "tiny", "n_patients": 6, "nodules_per_patient": [2, 3],
                   "nodule_diameter_mm": [10.0, 20.0], "negatives_per_nodule": 3.0, "jobs": 2},
    "cv": {"folds": FOLDS, "fold_ids": list(range(FOLDS))},
    "train": {"epochs": 2, "batch_size": 16, "early_stopping_patience": 2},
    "baseline": {"epochs": 2, "batch_size": 16, "early_stopping_patience": 2},
    "evaluate": {"bootstrap": 50, "montage_per_group": 2},
    "export": {"large_batch": 16, "parity_samples": 16},
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
           "DVC_NO_ANALYTICS": "1", "CI": "true", "PYTHONPATH": str(repo / "src")}
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
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm",
         "reproduced")
    return repo


def test_repro_runs_every_stage_and_deidentification_verifies(tiny_repo):
    lock = yaml.safe_load((tiny_repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(STAGES)
    anonymize = json.loads((tiny_repo / "reports/anonymize.json").read_text())
    assert anonymize["leaks_found"] == 0 and anonymize["files"] > 0
    evaluate = json.loads((tiny_repo / "metrics/evaluate.json").read_text())
    assert evaluate["protocol"]["kind"] == "kfold" and evaluate["oof"]["patients"] == 6
    assert 0.0 <= evaluate["oof"]["auc"]["value"] <= 1.0
    assert (tiny_repo / "models/model.onnx").stat().st_size > 0
    assert (tiny_repo / "reports/model_card.md").read_text().startswith("#")


def test_noop_repro_runs_nothing(tiny_repo):
    assert _changed_stages(tiny_repo) == set()
    assert _repro_ran(tiny_repo) == set()


def test_forced_repro_gives_byte_identical_outputs(tiny_repo):
    before = _out_hashes(tiny_repo)
    _run(tiny_repo, sys.executable, "-m", "dvc", "repro", "--force")
    after = _out_hashes(tiny_repo)
    differing = sorted(k for k in before if before[k] != after.get(k))
    assert differing == []
    assert _run(tiny_repo, "git", "status", "--porcelain", "--", "metrics", "plots",
                "reports", "dvc.lock") == ""


def _edit(path: Path, edit) -> str:
    before = path.read_text()
    path.write_text(edit(before))
    return before


@pytest.mark.parametrize("what,edit,expected", [
    ("export.opset", ("params.yaml", "export", "opset", 18), {"export"}),
    ("evaluate.bootstrap", ("params.yaml", "evaluate", "bootstrap", 40), {"evaluate"}),
    # dvc status names the stages whose own deps changed; repro then runs what follows them
    ("train.lr", ("params.yaml", "train", "lr", 0.0005), TRAINS),
    ("baseline.lr", ("params.yaml", "baseline", "lr", 0.002),
     {f"train_baseline@{i}" for i in range(FOLDS)}),
    ("resample.jobs", ("params.yaml", "resample", "jobs", 1), set()),
    ("train.num_workers", ("params.yaml", "train", "num_workers", 1), set()),
    ("a comment in the export run module", ("src/pipeline/export/run.py",), {"export"}),
    ("a comment in the export params module", ("src/pipeline/export/params.py",), {"export"}),
    ("a comment in the resample params module", ("src/pipeline/imaging/params.py",),
     {"resample"}),
    ("a comment in stages/export.py", ("stages/export.py",), {"export"}),
    ("a comment in export's entry point", ("src/pipeline/stages/export.py",), {"export"}),
    ("a comment in the cv params module", ("src/pipeline/data/cv_params.py",),
     {"folds", "evaluate", "export", *TRAINS, *(f"train_baseline@{i}" for i in range(FOLDS))}),
    ("a comment in the data params module", ("src/pipeline/data/params.py",),
     {"ingest", "anonymize", "datacard"}),
])
def test_one_edit_marks_exactly_the_stages_it_affects(tiny_repo, what, edit, expected):
    path = tiny_repo / edit[0]
    if len(edit) == 1:
        before = _edit(path, lambda t: t + "\n# a comment\n")
    else:
        def change(text, section=edit[1], key=edit[2], value=edit[3]):
            params = yaml.safe_load(text)
            params[section][key] = value
            return yaml.safe_dump(params, sort_keys=False)
        before = _edit(path, change)
    try:
        assert _changed_stages(tiny_repo) == expected, f"after changing {what}"
    finally:
        path.write_text(before)


def _bare_shell_run(repo: Path, command: str, timeout: int = 900) -> str:
    """Run a README command in a shell without the venv on PATH (a fresh terminal)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "DVC_NO_ANALYTICS": "1", "CI": "true", "PYTHONPATH": str(repo / "src")}
    proc = subprocess.run(["sh", "-c", command], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{command} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc.stdout


def test_readme_experiment_and_queue_commands_work_without_an_activated_venv(tiny_repo):
    """The README's `dvc exp run` and queue lines, exactly as written, from a bare shell."""
    readme = (REPO / "README.md").read_text()
    for line in (".venv/bin/dvc exp run -S", ".venv/bin/dvc exp run --queue -S",
                 'PATH="$PWD/.venv/bin:$PATH" dvc queue start'):
        assert line in readme, f"README no longer shows {line!r}"
    venv = tiny_repo / ".venv"
    if not venv.exists():  # the project's environment, as `make setup` makes it
        venv.symlink_to(Path(sys.prefix))
    _bare_shell_run(tiny_repo, ".venv/bin/dvc exp run -S evaluate.bootstrap=40")
    assert json.loads((tiny_repo / "metrics/evaluate.json").read_text())["oof"]["patients"] == 6
    _bare_shell_run(tiny_repo, ".venv/bin/dvc exp run --queue -S evaluate.bootstrap=30")
    _bare_shell_run(tiny_repo, 'PATH="$PWD/.venv/bin:$PATH" dvc queue start -j 1')
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = _bare_shell_run(tiny_repo, ".venv/bin/dvc queue status")
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert "Success" in status and "Failed" not in status, status
    _bare_shell_run(tiny_repo, 'PATH="$PWD/.venv/bin:$PATH" dvc queue stop')


def test_param_change_reruns_exactly_the_downstream_stages(tiny_repo):
    """Last in this module: it leaves the tiny repo on changed params."""
    path = tiny_repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"]["lr"] = 0.0005
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    assert _repro_ran(tiny_repo) == TRAINS | {"evaluate", "export"}
