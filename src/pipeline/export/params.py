"""``export:`` of ``params.yaml``: the ONNX opset and the parity gate."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Section, bounds


@dataclass(frozen=True)
class ExportParams(Section):
    """ONNX opset, the largest |onnx - torch| allowed, the batch and cubes the gate checks."""

    SECTION = "export"

    opset: int = bounds(13)
    parity_atol: float = bounds(0, lo_open=True)
    large_batch: int = bounds(2)
    parity_samples: int = bounds(1)
