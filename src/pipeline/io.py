"""Atomic writes and small JSON/CSV helpers shared by all stages.

Every output is written to a temporary sibling and renamed into place, so a crash or a bad input
never leaves a half-written file, and an existing output is only replaced by a complete one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps ``suffix`` (e.g. ``.nii.gz``) so writers that pick a format by
    extension still work. On an exception the temporary file is removed and ``path`` is untouched.
    The yielded path is absolute, so it stays valid in worker processes with another cwd.
    """
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` whole.

    The yielded path is absolute, so it stays valid on dask workers whose cwd differs.
    """
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """Convert NumPy scalars/arrays, paths and tuples into plain JSON types."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as stable, human-readable JSON (sorted keys, 2-space indent)."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=True, allow_nan=False)
    write_text(path, text + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame, float_format: str | None = None
              ) -> None:
    """Write a DataFrame as CSV atomically, without the index, with ``\\n`` line endings."""
    text = frame.to_csv(index=False, lineterminator="\n", float_format=float_format)
    write_text(path, text)


def read_csv(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV, keeping UID-like columns as strings (never parsed as floats)."""
    kwargs.setdefault("dtype", {"seriesuid": str, "series_uid": str, "patient_id": str})
    return pd.read_csv(path, **kwargs)


def clean_nan(value: Any) -> Any:
    """Replace NaN floats (undefined metrics) by None, recursively, for strict JSON."""
    if isinstance(value, dict):
        return {k: clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_nan(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
