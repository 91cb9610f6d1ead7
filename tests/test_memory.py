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


def test_steps_on_heap_sets_and_restores_the_thresholds_on_glibc():
    from pipeline.memory import steps_on_heap

    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    with steps_on_heap() as ok:
        assert ok == (on_glibc and ctypes.util.find_library("c") is not None)
        step = [np.ones(4_000_000, dtype=np.float32) for _ in range(3)]  # 16 MB each, on the heap
        assert float(sum(a.sum() for a in step)) == 12_000_000.0
        del step
    big = np.arange(1_000_000, dtype=np.int64)  # the pin again afterwards: still allocates
    assert int(big.sum()) == 999_999 * 1_000_000 // 2
