"""Layers point down: no import cycle between the library's packages (a new one fails here)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from stage_deps import imported_modules  # noqa: E402

SRC = REPO / "src" / "pipeline"


def _unit(module: str) -> str:
    """``pipeline.a.b.c`` -> ``a`` (a sub-package or a top-level module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pipeline"


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        me = _unit(".".join(rel.parts))
        if me == "pipeline" or rel.name == "__init__" and len(rel.parts) == 1:
            continue
        for name in imported_modules(path):
            other = _unit(name)
            known = (SRC / other).is_dir() or (SRC / f"{other}.py").is_file()
            if known and other not in (me, "pipeline"):
                graph.setdefault(me, set()).add(other)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_packages_have_no_import_cycle():
    assert find_cycle(package_graph()) is None
