"""dvc.yaml lists, for every stage, each library file its script runs (a missing dep is a stale
cache nobody notices) and never the params that cannot change its outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from stage_deps import closure, data_files  # noqa: E402

NEVER_PARAMS = ("jobs", "executor", "num_workers", "device")


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        out[name] = stage["do"] if "foreach" in stage else stage
    return out


def _script(cmd: str) -> Path:
    words = cmd.split()
    return REPO / next(w for w in words if w.startswith("stages/") and w.endswith(".py"))


def _covered(rel: str, deps: list[str]) -> bool:
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_cover_every_module_its_script_imports(name):
    stage = _stages()[name]
    deps = [str(d) for d in stage["deps"]]
    script = _script(stage["cmd"])
    files = closure(script)
    needed = [f.relative_to(REPO).as_posix() for f in [script, *files, *data_files(files)]]
    missing = [f for f in needed if not _covered(f, deps)]
    assert not missing, f"dvc.yaml stage {name} misses deps {missing}"
    assert "tools/py" in deps and "requirements.lock" in deps


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_params_never_name_settings_that_cannot_change_outputs(name):
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    params = [p if isinstance(p, str) else next(iter(p)) for p in _stages()[name].get("params", [])]
    bad = [p for p in params if p.split(".")[-1] in NEVER_PARAMS or p in NEVER_PARAMS]
    for p in params:  # a whole section brings its jobs/num_workers in with it
        section = values.get(p) if "." not in p else None
        if isinstance(section, dict):
            bad += [f"{p}.{k}" for k in section if k in NEVER_PARAMS]
    assert not bad, f"dvc.yaml stage {name} lists {bad}"


def test_closure_follows_imports_inside_functions(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("def f():\n    from pipeline.export.ensemble import FoldEnsemble\n")
    files = {f.relative_to(REPO).as_posix() for f in closure(script)}
    assert "src/pipeline/export/ensemble.py" in files and "src/pipeline/__init__.py" in files
