"""Keep a long streaming pass from growing the heap, and a training loop from page-faulting.

glibc raises its ``mmap`` threshold each time a large block mapped on its own is freed (up to
32 MiB), so the per-batch buffers of a streaming pass (cubes read, network inputs) move onto
the heap, where their interleaving with small allocations fragments it: measured on the train
stage, the peak RSS then grew by ~10 KB per candidate although no batch outlived its step.
Pinning the threshold (``mallopt(M_MMAP_THRESHOLD)``, which also turns the adjustment off)
gives every large buffer back to the system when freed and keeps the peak flat.

The pin has a price inside a training loop: every step allocates the same few hundred MB of
activations and gradients, and under the pin each is a fresh mapping the kernel must fault in
and zero (a cnn3d step spent ~40 % of its time so, most of it as system time).
:func:`steps_on_heap` lifts both thresholds for the loop, so one step's buffers are reused by
the next (the heap grows to one step's working set and stays there), then restores the pin and
trims the heap. Allocation strategy only: no result changes. No-ops where the C library is not
glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial values of both thresholds
TRIM_THRESHOLD_BYTES = 128 * 1024
#: the mmap threshold glibc accepts at most on 64-bit (HEAP_MAX_SIZE / 2): a training step's
#: buffers (tens of MB each at batch 64) all stay on the heap
STEP_HEAP_BYTES = 32 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 (glibc has it, musl and others do not)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def _mallopt(libc: ctypes.CDLL, option: int, value: int) -> bool:
    return bool(libc.mallopt(ctypes.c_int(option), ctypes.c_int(value)))


def pin_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's ``mmap`` threshold; ``True`` when it was set."""
    libc = _libc()
    if libc is None:
        return False
    ok = _mallopt(libc, M_MMAP_THRESHOLD, threshold_bytes)
    log.debug("glibc mmap threshold pinned at %d bytes: %s", threshold_bytes, ok)
    return ok


@contextmanager
def steps_on_heap(threshold_bytes: int = STEP_HEAP_BYTES) -> Iterator[bool]:
    """Inside: blocks up to ``threshold_bytes`` come from the heap and freed memory is kept for
    the next step. After: the pin of :func:`pin_mmap_threshold` again, and the heap trimmed.
    Yields whether the thresholds were set."""
    libc = _libc()
    ok = libc is not None and (_mallopt(libc, M_MMAP_THRESHOLD, threshold_bytes)
                               and _mallopt(libc, M_TRIM_THRESHOLD, 2 * threshold_bytes))
    try:
        yield ok
    finally:
        if libc is not None:
            _mallopt(libc, M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
            _mallopt(libc, M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
            libc.malloc_trim(ctypes.c_size_t(0))
