"""The numerical environment every torch stage runs in, pinned so results are byte-identical on
any x86-64 CPU with AVX2.

oneDNN (PyTorch's CPU convolution library) picks its kernels by the CPU's instruction set: on an
AVX-512 machine it runs other kernels than on an AVX2 machine, and training then ends in other
weights. ``pin_numerics`` caps oneDNN at AVX2 (``ONEDNN_MAX_CPU_ISA``) before torch creates its
first kernel, overriding whatever the shell set, and fixes the number of intra-op threads (the
split of a reduction over threads changes its rounding). It is called when ``pipeline`` is
imported, so every stage script and every test gets it; ``seed_everything`` adds deterministic
algorithms on top.

What cannot be promised: CPUs without AVX2 (oneDNN falls back to older kernels), ARM (other
kernels altogether) and CUDA (cuDNN/cuBLAS differ by GPU and driver). There the results are
compared within a stated tolerance (``tools/metrics_drift.py``), not byte for byte.

``LUNG_NUMERICS=native`` turns the pin off (faster on AVX-512, not reproducible elsewhere);
``LUNG_TORCH_THREADS`` sets the thread count (default 2; another count may change the bytes).
"""

from __future__ import annotations

import os
import sys

MAX_CPU_ISA = "AVX2"
DEFAULT_THREADS = 2
ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def numerics_pinned() -> bool:
    """Whether the pin applies (it does unless ``LUNG_NUMERICS=native``)."""
    return os.environ.get("LUNG_NUMERICS", "pinned").strip().lower() != "native"


def torch_threads() -> int:
    """The intra-op thread count torch stages use (``LUNG_TORCH_THREADS``, default 2)."""
    raw = os.environ.get("LUNG_TORCH_THREADS", str(DEFAULT_THREADS))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        from pipeline.errors import ConfigError

        raise ConfigError(f"LUNG_TORCH_THREADS must be a whole number >= 1, got {raw!r}")
    return value


def pin_numerics() -> dict[str, str]:
    """Cap oneDNN at AVX2 in this process's environment (before torch's first kernel).

    Returns the variables set. Safe to call again; a no-op under ``LUNG_NUMERICS=native``.
    """
    if not numerics_pinned():
        return {}
    for name in ISA_VARIABLES:
        os.environ[name] = MAX_CPU_ISA
    return {name: MAX_CPU_ISA for name in ISA_VARIABLES}


def pin_torch_threads() -> int:
    """Fix torch's intra-op threads (call where torch is used; returns the count)."""
    import torch

    threads = torch_threads() if numerics_pinned() else torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def numerics_record() -> dict[str, object]:
    """What was pinned, for the training metrics and the model card."""
    torch = sys.modules.get("torch")
    return {
        "pinned": numerics_pinned(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
