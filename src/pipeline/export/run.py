"""The export stage's logic: checkpoint + test split -> validated ONNX bytes and their figures.

Nothing is written here: the stage script writes ``model.onnx`` only after the parity gate passed.
Deterministic figures (parity, opset, sizes, versions) go to the metrics; timings, which vary from
run to run, go to a separate latency report so ``dvc repro`` twice gives identical metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from pipeline.config import ExportParams
from pipeline.data.inputs import model_inputs
from pipeline.errors import ConfigError
from pipeline.export.metadata import build_metadata, read_threshold
from pipeline.export.onnx_export import EXPORTER, export_onnx, load_trained
from pipeline.export.parity import ParityReport, check_parity
from pipeline.export.runtime import open_session
from pipeline.io import read_json, to_jsonable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    onnx_bytes: bytes
    parity: ParityReport
    metrics: dict[str, Any]
    latency: dict[str, Any]


def _canonical(value: Any) -> str:
    return json.dumps(to_jsonable(value), sort_keys=True)


def load_test_inputs(patches_dir: str | Path, input_kind: str, preprocess: Mapping[str, Any]
                     ) -> np.ndarray:
    """The test split as network inputs: ``test.npy`` HU cubes through ``model_inputs``.

    Raises:
        ConfigError: when ``test.npy`` is missing or empty, or when ``preprocess.json`` disagrees
            with the preprocessing the model was trained with.
    """
    patches_dir = Path(patches_dir)
    test = patches_dir / "test.npy"
    if not test.is_file():
        raise ConfigError(f"{test}: test split not found (run the patches stage)")
    recorded = patches_dir / "preprocess.json"
    if recorded.is_file() and _canonical(read_json(recorded)) != _canonical(preprocess):
        raise ConfigError(f"{recorded}: preprocessing differs from the checkpoint's "
                          f"({read_json(recorded)} vs {dict(preprocess)}); retrain the model")
    cubes = np.load(test, mmap_mode="r")
    if len(cubes) == 0:
        raise ConfigError(f"{test}: expected at least one test cube, got shape {cubes.shape}")
    return model_inputs(np.asarray(cubes), input_kind, preprocess)


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
        # 2 significant digits: the figure, not float noise, is what a diff should show
        "max_abs_diff": float(f"{report.max_abs_diff:.2g}"),
        "parity": {f"batch_{b.batch_size}": {"max_abs_diff": float(f"{b.max_abs_diff:.2g}"),
                                             "samples": b.samples}
                   for b in report.batches},
        "test_samples": int(len(inputs)),
        "threshold": threshold,
        "onnx_bytes": len(model_bytes),
        "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "versions": versions,
    }
    latency: dict[str, Any] = {
        f"batch_{b.batch_size}": {
            "onnx_ms_per_sample": round(b.onnx_ms_per_sample, 4),
            "torch_ms_per_sample": round(b.torch_ms_per_sample, 4),
            "torch_over_onnx": round(b.torch_ms_per_sample / max(b.onnx_ms_per_sample, 1e-9), 3),
            "samples": b.samples,
        } for b in report.batches}
    latency["threads"] = {"torch": torch.get_num_threads(), "onnxruntime": "default"}
    latency["versions"] = versions
    return ExportResult(model_bytes, report, metrics, latency)


def export_checkpoint(model_pt: str | Path, patches_dir: str | Path,
                      evaluation_json: str | Path | None, params: ExportParams) -> ExportResult:
    """The whole stage: load ``model.pt``, read the threshold, export, gate on the test split."""
    network, checkpoint = load_trained(model_pt)
    threshold = read_threshold(evaluation_json) if evaluation_json is not None else None
    inputs = load_test_inputs(patches_dir, checkpoint["input_kind"], checkpoint["preprocess"])
    log.info("exporting %s (%s) with %d test samples of shape %s", checkpoint["model_name"],
             checkpoint["input_kind"], len(inputs), inputs.shape[1:])
    return export_and_check(network, checkpoint, inputs, threshold, params)
