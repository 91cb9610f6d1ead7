"""Every ``from pipeline... import name`` in the scripts outside ``src/`` resolves.

Benchmarks and tools import the library inside their functions (so ``--help`` stays fast), where
no test run reaches them: a renamed library symbol left two benchmarks failing at their first
step. This test reads every such import statically and resolves it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT_DIRS = ("benchmarks", "stages", "tools")


def pipeline_imports(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` of every ``from pipeline... import name`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(node.lineno, node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.split(".")[0] == "pipeline" for alias in node.names]


def unresolved(module: str, name: str) -> str | None:
    """Why ``from module import name`` fails, or None when it resolves."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return f"module {module} does not import: {exc}"
    if hasattr(mod, name):
        return None
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return f"{module} has no {name}"
    return None


SCRIPTS = sorted(p for d in SCRIPT_DIRS for p in (REPO / d).glob("*.py"))


def test_the_finder_sees_function_level_imports(tmp_path: Path) -> None:
    script = tmp_path / "bench.py"
    script.write_text("def main():\n    from pipeline.config import no_such_name\n",
                      encoding="utf-8")
    assert pipeline_imports(script) == [(2, "pipeline.config", "no_such_name")]
    assert unresolved("pipeline.config", "no_such_name") == "pipeline.config has no no_such_name"
    assert unresolved("pipeline.config", "load_section") is None
    assert unresolved("pipeline", "config") is None


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_imports_resolve(script: Path) -> None:
    problems = [f"{script.relative_to(REPO)}:{line}: {why}"
                for line, module, name in pipeline_imports(script)
                if (why := unresolved(module, name)) is not None]
    assert not problems, "\n".join(problems)
