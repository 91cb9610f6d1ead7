"""One runner shape: every DVC stage's script is a few lines of glue around
``pipeline.stages.<stage>.run(...) -> <Stage>Report``, whose ``write`` and ``summary`` it calls."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path

import pytest
import yaml

from pipeline.cli import StageReport

REPO = Path(__file__).resolve().parents[2]
#: statements a script's run(args) may hold: load the sections, run, write, return
MAX_GLUE_STATEMENTS = 8


def _scripts() -> list[str]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    names = set()
    for stage in stages.values():
        cmd = (stage["do"] if "foreach" in stage else stage)["cmd"]
        names.add(next(w for w in cmd.split() if w.startswith("stages/"))[len("stages/"):-3])
    return sorted(names)


def _run_def(script: str) -> ast.FunctionDef:
    tree = ast.parse((REPO / "stages" / f"{script}.py").read_text())
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run")


def test_every_dvc_stage_has_a_script():
    assert {"synthesize", "ingest", "anonymize", "resample", "candidates", "patches", "folds",
            "train", "evaluate", "export", "datacard"} <= set(_scripts())


@pytest.mark.parametrize("script", _scripts())
def test_the_library_entry_point_returns_a_stage_report(script):
    module = importlib.import_module(f"pipeline.stages.{script}")
    hints = typing.get_type_hints(module.run)
    report = hints["return"]
    assert inspect.isclass(report) and issubclass(report, StageReport)
    assert report.__name__ == f"{script.capitalize()}Report"
    assert not inspect.isabstract(report)


@pytest.mark.parametrize("script", _scripts())
def test_the_script_is_glue_around_run_write_and_the_report(script):
    run = _run_def(script)
    calls = {ast.unparse(n.func) for n in ast.walk(run) if isinstance(n, ast.Call)}
    assert f"{script}.run" in calls, calls
    assert "report.write" in calls, calls
    assert isinstance(run.body[-1], ast.Return) and ast.unparse(run.body[-1].value) == "report"
    assert len(run.body) <= MAX_GLUE_STATEMENTS, f"stages/{script}.py run() holds logic"
    source = (REPO / "stages" / f"{script}.py").read_text()
    assert "return run_stage(run, parse_args, argv)" in source
    assert "print(" not in source  # the one line comes from the report's summary
