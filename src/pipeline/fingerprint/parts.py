"""The fingerprint parts on disk: ``<folder>/{ingest,resample,patches}.json``, a baseline given as
a folder or one merged file, or the parts committed at a git ref (``git show``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.io import read_json

PARTS = ("ingest", "resample", "patches")


def read_parts(folder: str | Path) -> dict[str, Any]:
    """``{"ingest": ..., "resample": ..., "patches": ...}`` from ``folder/<part>.json``.

    Raises:
        InputError: a part is missing.
    """
    folder = Path(folder)
    parts = {}
    for name in PARTS:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise InputError(f"{path}: fingerprint part not found (run the {name} stage)")
        parts[name] = read_json(path)
    return parts


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A baseline fingerprint: a folder of parts, or one JSON file holding the parts by name."""
    path = Path(path)
    if path.is_dir():
        return read_parts(path)
    if not path.is_file():
        raise InputError(f"{path}: baseline fingerprint not found")
    data = read_json(path)
    missing = [p for p in PARTS if not isinstance(data, dict) or p not in data]
    if missing:
        raise InputError(f"{path}: expected a fingerprint with parts {list(PARTS)}, missing "
                         f"{missing} (or pass the folder of the parts)")
    return {p: data[p] for p in PARTS}


def read_parts_at_ref(ref: str, folder: str = "reports/fingerprint", repo: str | Path = "."
                      ) -> dict[str, Any]:
    """The parts committed at git ``ref`` (``git show REF:folder/<part>.json``).

    Raises:
        InputError: not a git repository, unknown ref, or a part not committed there.
    """
    parts = {}
    for name in PARTS:
        spec = f"{ref}:{folder.rstrip('/')}/{name}.json"
        try:
            proc = subprocess.run(["git", "show", spec], cwd=repo, capture_output=True,
                                  text=True, check=False)
        except OSError as exc:
            raise InputError(f"git show {spec}: cannot run git ({exc})") from None
        if proc.returncode != 0:
            raise InputError(f"git show {spec}: {proc.stderr.strip().splitlines()[-1:] or '?'}")
        parts[name] = json.loads(proc.stdout)
    return parts
