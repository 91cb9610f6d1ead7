"""The patches stage's disk bill, computed before a byte is written.

``cubes.npy`` is created sparse (the header and a hole) and filled by the workers, so a disk that
cannot hold it would fail hours into a LUNA16 run (754,975 cubes of 32^3 int16: ~49 GB). The
bill is exact for the cubes (``rows x cube bytes`` plus the ``.npy`` header) and an upper
estimate for the tables (``INDEX_ROW_BYTES`` per row for ``index.csv`` and its companions).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DiskSpaceError

#: upper estimate of one candidate's bytes in index.csv (64-character uids, 3 coordinates, ids)
#: plus its share of annotations.csv / rejected.csv
INDEX_ROW_BYTES = 320
#: the .npy header of cubes.npy (numpy pads it to a multiple of 64 bytes; 128 is typical)
NPY_HEADER_BYTES = 128


@dataclass(frozen=True)
class DiskBudget:
    """Bytes the patches of ``rows`` cubes of ``cube_size``^3 voxels will take."""

    rows: int
    cube_size: int
    itemsize: int = np.dtype(np.int16).itemsize

    @property
    def cube_bytes(self) -> int:
        return self.cube_size**3 * self.itemsize

    @property
    def cubes_bytes(self) -> int:
        return NPY_HEADER_BYTES + self.rows * self.cube_bytes

    @property
    def tables_bytes(self) -> int:
        return self.rows * INDEX_ROW_BYTES

    @property
    def total_bytes(self) -> int:
        return self.cubes_bytes + self.tables_bytes

    def describe(self) -> str:
        return (f"{gigabytes(self.total_bytes)} ({self.rows} cubes x {self.cube_bytes} bytes "
                f"+ about {gigabytes(self.tables_bytes)} of tables)")


def gigabytes(n_bytes: int) -> str:
    """``n_bytes`` as decimal gigabytes with 3 decimals (``'48.318 GB'``)."""
    return f"{n_bytes / 1e9:.3f} GB"


def check_free_space(budget: DiskBudget, folder: str | Path) -> int:
    """The free bytes of ``folder``'s filesystem; raise when they cannot hold ``budget``.

    Raises:
        DiskSpaceError: one line with the bytes needed, the bytes free and the folder.
    """
    free = int(shutil.disk_usage(folder).free)
    if free < budget.total_bytes:
        raise DiskSpaceError(f"{folder}: the patches need {budget.describe()}, but only "
                             f"{gigabytes(free)} are free on its filesystem; free space or "
                             f"write --output elsewhere")
    return free
