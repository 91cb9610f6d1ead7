"""The export stage's logic: fold models -> one validated ONNX graph and its figures.

Nothing is written here: the stage script writes ``model.onnx`` only after the parity gate passed.
Deterministic figures (parity, opset, sizes, versions) go to the metrics; timings, which vary from
run to run, go to a separate latency report so ``dvc repro`` twice gives identical metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from pipeline.data.cube_store import CubeFile
from pipeline.data.inputs import model_inputs
from pipeline.data.patches_format import Preprocess
from pipeline.errors import ConfigError
from pipeline.export.ensemble import ensemble_summary, load_fold_models
from pipeline.export.metadata import build_metadata
from pipeline.export.onnx_export import EXPORTER, export_onnx
from pipeline.export.params import ExportParams
from pipeline.export.parity import ParityReport, check_parity
from pipeline.export.runtime import open_session
from pipeline.io import to_jsonable
from pipeline.numerics import pin_torch_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    onnx_bytes: bytes
    parity: ParityReport
    metrics: dict[str, Any]
    latency: dict[str, Any]


def _canonical(value: Any) -> str:
    return json.dumps(to_jsonable(value), sort_keys=True)


def load_parity_inputs(patches_dir: str | Path, input_kind: str, preprocess: Mapping[str, Any],
                       samples: int) -> np.ndarray:
    """Up to ``samples`` cubes, evenly spaced over ``cubes.npy``, as network inputs.

    Raises:
        ConfigError: when ``cubes.npy`` is missing or empty, or when ``preprocess.json`` disagrees
            with the preprocessing the model was trained with.
    """
    patches_dir = Path(patches_dir)
    path = patches_dir / "cubes.npy"
    if not path.is_file():
        raise ConfigError(f"{path}: cubes not found (run the patches stage)")
    recorded = patches_dir / Preprocess.file
    if recorded.is_file():
        cut = Preprocess.read(recorded).to_dict()
        if _canonical(cut) != _canonical({k: preprocess.get(k) for k in cut}):
            raise ConfigError(f"{recorded}: preprocessing differs from the model's "
                              f"({cut} vs {dict(preprocess)}); retrain the model")
    cubes = CubeFile(path)
    if len(cubes) == 0:
        raise ConfigError(f"{path}: expected at least one cube, got shape {cubes.shape}")
    rows = np.unique(np.linspace(0, len(cubes) - 1, min(samples, len(cubes))).astype(np.int64))
    return model_inputs(cubes.read(rows), input_kind, preprocess)


def power_of_ten_above(value: float) -> float:
    """The smallest power of ten at or above ``value`` (``1e-07`` for 0 and below): the order of
    a parity difference, the same on machines whose kernels round the last bits differently."""
    if not value > 1e-7:
        return 1e-7
    return float(f"1e{math.ceil(math.log10(value) - 1e-9)}")


def export_and_check(network: nn.Module, checkpoint: Mapping[str, Any], inputs: np.ndarray,
                     threshold: float | None, params: ExportParams) -> ExportResult:
    """Export ``network`` with its metadata and run the parity gate on ``inputs``.

    Raises:
        ParityError: when ONNX Runtime and PyTorch disagree beyond ``params.parity_atol``.
    """
    network = network.eval()
    metadata = build_metadata(checkpoint, inputs.shape[1:], threshold, EXPORTER)
    model_bytes = export_onnx(network, inputs, params.opset, metadata)
    session = open_session(model_bytes)
    report = check_parity(network, session, inputs, (1, params.large_batch),
                          params.parity_atol)
    versions = {"onnx": onnx.__version__, "onnxruntime": ort.__version__,
                "torch": torch.__version__}
    metrics = {
        "model_name": str(checkpoint["model_name"]),
        "input_kind": str(checkpoint["input_kind"]),
        "input_shape": list(inputs.shape[1:]),
        "opset": params.opset,
        "parity_atol": params.parity_atol,
        # ONNX Runtime picks its kernels by the CPU (AVX2, AVX-512), so the exact difference
        # varies by machine: the report keeps its order of magnitude, the log the figure
        "max_abs_diff_within": power_of_ten_above(report.max_abs_diff),
        "parity": {f"batch_{b.batch_size}": {
            "max_abs_diff_within": power_of_ten_above(b.max_abs_diff), "samples": b.samples}
            for b in report.batches},
        "test_samples": int(len(inputs)),
        "threshold": threshold,
        "onnx_bytes": len(model_bytes),
        "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "versions": versions,
    }
    latency: dict[str, Any] = {
        f"batch_{b.batch_size}": {
            "max_abs_diff": float(f"{b.max_abs_diff:.2g}"),
            "onnx_ms_per_sample": round(b.onnx_ms_per_sample, 4),
            "torch_ms_per_sample": round(b.torch_ms_per_sample, 4),
            "torch_over_onnx": round(b.torch_ms_per_sample / max(b.onnx_ms_per_sample, 1e-9), 3),
            "samples": b.samples,
        } for b in report.batches}
    latency["threads"] = {"torch": torch.get_num_threads(), "onnxruntime": "default"}
    latency["versions"] = versions
    return ExportResult(model_bytes, report, metrics, latency)


def export_ensemble(fold_models: Sequence[str | Path], patches_dir: str | Path,
                    params: ExportParams) -> ExportResult:
    """The whole stage: the fold models as one graph, gated on parity over sampled cubes."""
    pin_torch_threads()
    network, record = load_fold_models(fold_models)
    inputs = load_parity_inputs(patches_dir, record["input_kind"], record["preprocess"],
                                params.parity_samples)
    log.info("exporting the %d-fold ensemble of %s (%s) with %d parity samples of shape %s",
             len(fold_models), record["model_name"], record["input_kind"], len(inputs),
             inputs.shape[1:])
    result = export_and_check(network, record, inputs, record["threshold"], params)
    result.metrics["ensemble"] = ensemble_summary(record)
    result.metrics["parity_samples"] = result.metrics.pop("test_samples")
    return result
