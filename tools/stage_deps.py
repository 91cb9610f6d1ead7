"""Which library files each stage script runs: the transitive closure of its `pipeline` imports.

`dvc.yaml` must list every one of them under the stage's `deps` (a missing dep is a stale cache
nobody notices); `tests/test_dvc_deps.py` checks it. Run `python tools/stage_deps.py STAGE_SCRIPT`
to print the list for a stage. Imports are read from the source (ast), including those inside
functions, so a lazily imported module counts too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def module_file(name: str) -> Path | None:
    """The file of module ``pipeline.x.y`` (a module or a package's ``__init__``)."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every ``pipeline...`` module named by an import in ``path`` (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "pipeline")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "pipeline":
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def closure(script: Path) -> list[Path]:
    """Library files run by ``script``: its imports, their imports, and each package __init__."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in imported_modules(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                f = module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return sorted(seen)


#: Non-Python files a module reads at run time (package data), by the module that reads them.
DATA_FILES = {
    "src/pipeline/evaluation/run.py": ["src/pipeline/evaluation/templates/model_card.md"],
    "src/pipeline/fingerprint/card.py": ["src/pipeline/fingerprint/templates/data_card.md"],
}


def data_files(files: list[Path]) -> list[Path]:
    """The package data read by ``files`` (see ``DATA_FILES``)."""
    out = []
    for f in files:
        out.extend(REPO / d for d in DATA_FILES.get(f.relative_to(REPO).as_posix(), []))
    return sorted(set(out))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        files = closure(Path(arg).resolve())
        for f in files:
            print(f.relative_to(REPO).as_posix())
