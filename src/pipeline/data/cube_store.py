"""Rows of ``cubes.npy`` read on demand, so memory follows the batch, not the cohort.

LUNA16's 754,975 candidates make ~48 GB of int16 cubes; training, evaluation and export read
them through :class:`CubeFile`, which parses the ``.npy`` header once and reads the requested rows
with positioned reads into a buffer of their size. No memory map either: the pages of a map that
a pass over all candidates touches stay resident in the process (and count in its RSS) until the
kernel needs them back, so a map would make a full inference look as large as the file.

Rows are read sorted and coalesced into runs of consecutive rows (one read per run), then put
back in the order asked for; the bytes are those ``np.load`` returns.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError

#: rows per read of :func:`iter_row_chunks` callers that have no batch size of their own
DEFAULT_CHUNK_ROWS = 256


class CubeFile:
    """A C-ordered ``.npy`` file of shape ``(N, ...)`` whose rows are read on request.

    Picklable (DataLoader workers): it holds the path and the header's figures; each process
    opens its own file handle on first read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise PipelineError(f"{self.path}: expected a .npy array of cubes, not found")
        with open(self.path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
            except ValueError as exc:
                raise PipelineError(f"{self.path}: not a readable .npy array ({exc})") from exc
            self.offset = fh.tell()
        if fortran or len(shape) < 1 or dtype.hasobject:
            raise PipelineError(f"{self.path}: expected a C-ordered numeric array (N, ...), "
                                f"got shape {shape}, fortran order {fortran}, dtype {dtype}")
        self.shape: tuple[int, ...] = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        if self.path.stat().st_size < expected:
            raise PipelineError(f"{self.path}: truncated, {self.path.stat().st_size} bytes for "
                                f"a header promising {expected}")
        self._fh: io.BufferedReader | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_fh", "_pid")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _fh=None, _pid=-1)

    def _handle(self) -> io.BufferedReader:
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.path, "rb")  # noqa: SIM115 (kept open for the next reads)
            self._pid = os.getpid()
        return self._fh

    def close(self) -> None:
        if self._fh is not None and self._pid == os.getpid():
            self._fh.close()
        self._fh = None

    def read(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """The rows ``rows`` (any order, repeats allowed) as a new array ``(len(rows), ...)``."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            bad = rows[(rows < 0) | (rows >= n)][0]
            raise PipelineError(f"{self.path}: row {bad} out of range 0..{n - 1}")
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(-1).view(np.uint8).data
        fh = self._handle()
        # runs of consecutive rows: one read each
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for run in np.split(np.arange(len(unique)), breaks) if len(unique) else []:
            first, count = int(unique[run[0]]), len(run)
            fh.seek(self.offset + first * self.row_bytes)
            dest = flat[int(run[0]) * self.row_bytes:(int(run[0]) + count) * self.row_bytes]
            got = fh.readinto(dest)
            if got != len(dest):
                raise PipelineError(f"{self.path}: short read at row {first} "
                                    f"({got} of {len(dest)} bytes)")
        if len(unique) == len(rows) and np.array_equal(unique, rows):
            return out
        return out[inverse.reshape(-1)]


CubeSource = np.ndarray | CubeFile


def read_rows(source: CubeSource, rows: np.ndarray) -> np.ndarray:
    """Rows of an in-memory array or a :class:`CubeFile`, as an in-memory array."""
    if isinstance(source, CubeFile):
        return source.read(rows)
    return np.asarray(source[np.asarray(rows, dtype=np.int64)])


def iter_row_chunks(source: CubeSource, rows: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS
                    ) -> Iterator[np.ndarray]:
    """``read_rows`` of consecutive slices of ``rows``, ``chunk_rows`` at a time, in order."""
    if chunk_rows < 1:
        raise ValueError(f"expected chunk_rows >= 1, got {chunk_rows}")
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), chunk_rows):
        yield read_rows(source, rows[start:start + chunk_rows])
