"""The patches' disk bill and the refusal to start on a disk that cannot hold it."""

import shutil
from collections import namedtuple

import numpy as np
import pytest

from pipeline.data.disk_budget import DiskBudget, check_free_space
from pipeline.errors import DiskSpaceError, PipelineError

Usage = namedtuple("Usage", "total used free")


def test_the_cubes_bill_matches_the_bytes_numpy_writes(tmp_path):
    budget = DiskBudget(rows=37, cube_size=12)
    np.lib.format.open_memmap(tmp_path / "c.npy", mode="w+", dtype=np.int16,
                              shape=(37, 12, 12, 12))
    assert budget.cubes_bytes == (tmp_path / "c.npy").stat().st_size
    assert budget.total_bytes > budget.cubes_bytes


def test_luna16_bill_is_about_49_gigabytes():
    budget = DiskBudget(rows=754_975, cube_size=32)
    assert budget.cube_bytes == 65_536
    assert 49.4e9 < budget.cubes_bytes < 49.5e9


def test_a_disk_too_small_is_refused_with_needed_free_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**12, 10**12 - 10**9, 10**9))
    with pytest.raises(DiskSpaceError) as info:
        check_free_space(DiskBudget(rows=100_000, cube_size=32), tmp_path)
    message = str(info.value)
    assert isinstance(info.value, PipelineError) and "\n" not in message
    assert message.startswith(f"{tmp_path}: the patches need 6.586 GB (100000 cubes x 65536 bytes")
    assert "only 1.000 GB are free" in message


def test_a_disk_large_enough_returns_its_free_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**12, 0, 7 * 10**9))
    assert check_free_space(DiskBudget(rows=100_000, cube_size=32), tmp_path) == 7 * 10**9
