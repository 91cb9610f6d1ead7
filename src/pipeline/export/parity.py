"""The parity gate: ONNX Runtime must reproduce PyTorch's probabilities within a tolerance.

Both engines run the same inputs at batch 1 and at a large batch (the inputs are cycled when there
are fewer samples than one large batch, so the large batch size itself is exercised). Wall times of
the same passes give the latency figures (ms per sample), measured after a small warm-up call each
(so the large-batch figure includes the first allocation at that batch size).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from pipeline.errors import ParityError
from pipeline.export.metadata import INPUT_NAME
from pipeline.export.onnx_export import ProbabilityHead

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchParity:
    """Agreement and speed of the two engines at one batch size."""

    batch_size: int
    samples: int
    max_abs_diff: float
    onnx_ms_per_sample: float
    torch_ms_per_sample: float


@dataclass(frozen=True)
class ParityReport:
    atol: float
    batches: list[BatchParity] = field(default_factory=list)

    @property
    def max_abs_diff(self) -> float:
        return max((b.max_abs_diff for b in self.batches), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.atol


def _run_batches(fn, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    fn(x[:min(batch_size, 8)])  # warm-up (kernels, threads); kept small: a large batch is costly
    start = time.perf_counter()
    out = [fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    seconds = time.perf_counter() - start
    return np.concatenate(out).astype(np.float64), 1000.0 * seconds / max(len(x), 1)


def compare_engines(network: nn.Module, session: ort.InferenceSession, inputs: np.ndarray,
                    batch_sizes: Sequence[int]) -> list[BatchParity]:
    """Run PyTorch and ONNX Runtime on ``inputs`` at each batch size; no verdict."""
    head = ProbabilityHead(network).eval()
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    if len(x) == 0:
        raise ParityError("parity check needs at least one input sample, got none")

    def run_torch(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return head(torch.from_numpy(batch))[0].numpy()

    def run_onnx(batch: np.ndarray) -> np.ndarray:
        return session.run(["probability"], {INPUT_NAME: batch})[0]

    results = []
    for bs in batch_sizes:
        xb = x if len(x) >= bs else x[np.arange(bs) % len(x)]
        p_torch, t_torch = _run_batches(run_torch, xb, bs)
        p_onnx, t_onnx = _run_batches(run_onnx, xb, bs)
        if p_onnx.shape != p_torch.shape:
            raise ParityError(f"ONNX probability has shape {p_onnx.shape} at batch {bs}, "
                              f"PyTorch {p_torch.shape}")
        diff = float(np.max(np.abs(p_onnx - p_torch)))
        if not np.isfinite(diff):
            diff = float("inf")
        results.append(BatchParity(batch_size=bs, samples=len(xb), max_abs_diff=diff,
                                   onnx_ms_per_sample=t_onnx, torch_ms_per_sample=t_torch))
        log.info("batch %d: max |onnx - torch| = %.3g over %d samples; %.3f vs %.3f ms/sample",
                 bs, diff, len(xb), t_onnx, t_torch)
    return results


def check_parity(network: nn.Module, session: ort.InferenceSession, inputs: np.ndarray,
                 batch_sizes: Sequence[int], atol: float, source: str = "model.onnx"
                 ) -> ParityReport:
    """Compare the engines and raise unless every probability agrees within ``atol``.

    Raises:
        ParityError: naming ``source``, the batch size, the largest difference and ``atol``.
    """
    report = ParityReport(atol=atol, batches=compare_engines(network, session, inputs,
                                                             batch_sizes))
    for b in report.batches:
        if not b.max_abs_diff <= atol:
            raise ParityError(
                f"{source}: ONNX Runtime and PyTorch probabilities differ by up to "
                f"{b.max_abs_diff:.3g} at batch {b.batch_size} over {b.samples} samples; "
                f"expected at most {atol:g}")
    return report
