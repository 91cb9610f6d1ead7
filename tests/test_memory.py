"""The glibc mmap threshold pin: set where glibc is, a no-op elsewhere, results unchanged."""

import ctypes.util
import platform

import numpy as np

from pipeline.memory import pin_mmap_threshold


def test_pin_succeeds_on_glibc_and_allocation_still_works():
    ok = pin_mmap_threshold()
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert ok == (on_glibc and ctypes.util.find_library("c") is not None)
    big = np.arange(1_000_000, dtype=np.int64)  # mapped on its own under the pin
    assert int(big.sum()) == 999_999 * 1_000_000 // 2
