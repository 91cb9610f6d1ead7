"""Atomic writes and small JSON/CSV helpers shared by all stages.

Every output is written to a temporary sibling and renamed into place, so a crash or a bad input
never leaves a half-written file, and an existing output is only replaced by a complete one.
Outputs get the permissions of the user's umask (``mkstemp``/``mkdtemp`` alone would leave them
0600/0700, unreadable to colleagues on a shared server).

A folder output (:func:`atomic_dir`) is written under an exclusive lock on ``.<name>.lock`` beside
it (``flock``, released by the kernel when the process dies, even by ``kill -9``): a second run on
the same output fails at once with :class:`~pipeline.errors.OutputBusyError` instead of racing the
first, and the run that holds the lock removes the temporaries that killed runs left behind
(``.<name>.*`` folders).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import OutputBusyError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the kernel tells it (Linux >= 4.7)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _apply_umask(path: Path, directory: bool) -> None:
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


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
    _apply_umask(tmp, directory=False)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def output_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of output ``path`` (``.<name>.lock`` beside it) while in the block.

    Raises:
        OutputBusyError: another process holds it (two runs writing the same output).
    """
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(f".{target.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(f"{target}: another run is writing this output (lock "
                                  f"{lock_path.name} is held); wait for it or stop it") from None
        yield lock_path
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the ``.<name>.*`` temporaries (folders and files) killed runs left beside output
    ``path``; call only while holding :func:`output_lock`. Returns what was removed."""
    target = Path(path).absolute()
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    lock_name = f".{target.name}.lock"
    for entry in target.parent.iterdir():
        if not entry.name.startswith(f".{target.name}.") or entry.name == lock_name:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def check_separate(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]
                   ) -> None:
    """Refuse an output inside its input (it would be read back on the next run) or an input
    inside the output (it would be replaced).

    Raises:
        OutputBusyError: the two overlap.
    """
    inp, out = Path(input_path).resolve(), Path(output_path).resolve()
    if out == inp or inp in out.parents or out in inp.parents:
        raise OutputBusyError(f"{output_path}: the output must not be inside the input "
                              f"{input_path} (nor the input inside the output)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` whole.

    Holds :func:`output_lock` throughout and first removes stale temporaries of ``path``. The
    yielded path is absolute, so it stays valid on dask workers whose cwd differs.

    Raises:
        OutputBusyError: another run is writing ``path``.
    """
    target = Path(path).absolute()
    with output_lock(target):
        remove_stale_temporaries(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        _apply_umask(tmp, directory=True)
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
