"""The numerical environment every torch stage runs in, pinned so results are byte-identical on
any x86-64 CPU with AVX2.

Three libraries inside PyTorch pick their CPU code by the machine they find, and each choice
changes the rounding of a sum, so training on an AVX-512 machine ended in other weights than on an
AVX2 machine. ``pin_numerics`` fixes all three in this process's environment before torch creates
its first kernel, overriding whatever the shell set:

- oneDNN (convolutions): capped at AVX2 kernels (``ONEDNN_MAX_CPU_ISA``).
- oneMKL (the ``Linear`` layers' GEMM): its conditional numerical reproducibility mode on the
  ``COMPATIBLE`` branch (``MKL_CBWR``), the one branch Intel documents as giving the same results
  on every Intel and compatible (AMD) CPU; it also fixes MKL's cache-size assumptions and
  scheduling, which otherwise follow the machine. Measured: on an AVX-512 (Sapphire Rapids) CPU,
  MKL's default and its ``AVX2`` branch both trained other weights than an AVX2 machine; the
  Linear layers are small, so the SSE2 branch costs no measurable time here.
- ATen (PyTorch's own vectorised kernels: reductions, BatchNorm, the optimizer): AVX2 code
  (``ATEN_CPU_CAPABILITY``), not AVX-512.

It also fixes the number of intra-op threads (the split of a reduction over threads changes its
rounding) and turns MKL's and OpenMP's dynamic thread adjustment off. It is called when
``pipeline`` is imported, so every stage script and every test gets it; ``seed_everything`` adds
deterministic algorithms on top.

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
#: every variable the pin sets, and its value
PINNED_ENVIRONMENT = {
    **{name: MAX_CPU_ISA for name in ISA_VARIABLES},
    "MKL_CBWR": "COMPATIBLE",
    "MKL_DYNAMIC": "FALSE",
    "OMP_DYNAMIC": "FALSE",
    "ATEN_CPU_CAPABILITY": "avx2",
}


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
    """Set :data:`PINNED_ENVIRONMENT` in this process's environment (before torch's first
    kernel): oneDNN capped at AVX2, MKL on its reproducible ``COMPATIBLE`` branch, ATen on AVX2.

    Returns the variables set. Safe to call again; a no-op under ``LUNG_NUMERICS=native``.
    """
    if not numerics_pinned():
        return {}
    os.environ.update(PINNED_ENVIRONMENT)
    return dict(PINNED_ENVIRONMENT)


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
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
