"""Sharing data through a DVC remote: push to a local-directory remote, lose it all, pull it back.

Runs ``dvc`` as a subprocess in a throw-away git + DVC repository under ``tmp_path``; the same
commands work with an S3, GCS or SSH remote (README, "Sharing data: DVC remotes").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dvc")
if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)


def run(cwd: Path, *args: str) -> str:
    """Run a command in ``cwd``; fail the test with its output if it fails."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0",
           # DVC's per-machine index and state: beside the repository, not in /var/tmp
           "DVC_SITE_CACHE_DIR": str(cwd.parent / "dvc-site-cache")}
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, sys.executable, "-m", "dvc", *args)


SECRET = "PAT-IDENTIFYING-0001"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git + DVC repository with its own config, outside any other repository."""
    root = tmp_path / "repo"
    root.mkdir()
    run(root, "git", "init", "-q")
    run(root, "git", "config", "user.name", "Pipeline Test")
    run(root, "git", "config", "user.email", "pipeline-test@example.invalid")
    dvc(root, "init", "-q")
    return root


def add_remote(repo: Path, remote: Path) -> None:
    dvc(repo, "remote", "add", "-d", "local", str(remote))


def test_pushed_output_is_pulled_back_byte_identical(repo, tmp_path):
    data = repo / "data" / "volumes"
    payload = {"a.bin": bytes(range(256)) * 16, "sub/b.csv": b"series_uid,label\n1.2.3,1\n"}
    for name, content in payload.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    dvc(repo, "add", "data/volumes")
    add_remote(repo, tmp_path / "remote")
    run(repo, "git", "add", ".dvc/config", "data/.gitignore", "data/volumes.dvc")
    run(repo, "git", "commit", "-q", "-m", "track volumes")
    dvc(repo, "push")

    shutil.rmtree(data)
    shutil.rmtree(repo / ".dvc" / "cache")
    dvc(repo, "pull")

    for name, content in payload.items():
        assert (data / name).read_bytes() == content
    assert json.loads(dvc(repo, "status", "--cloud", "--json")) == {}  # cache == remote
    assert json.loads(dvc(repo, "status", "--json")) == {}  # workspace == .dvc files


def test_uncached_stage_output_never_reaches_the_remote(repo, tmp_path):
    # like ingest's series.csv (original identifiers): an output with `cache: false` (-O)
    write_ids = f"open('ids.csv', 'w').write('patient_id\\n{SECRET}\\n')"
    write_volume = "open('volume.bin', 'wb').write(bytes(64))"
    dvc(repo, "stage", "add", "-q", "-n", "ingest", "-O", "ids.csv",
        f'"{sys.executable}" -c "{write_ids}"')
    dvc(repo, "stage", "add", "-q", "-n", "resample", "-d", "ids.csv", "-o", "volume.bin",
        f'"{sys.executable}" -c "{write_volume}"')
    dvc(repo, "repro", "-q")
    assert SECRET in (repo / "ids.csv").read_text()
    remote = tmp_path / "remote"
    add_remote(repo, remote)
    dvc(repo, "push")

    pushed = [p for p in remote.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in pushed] == [bytes(64)]  # volume.bin only
