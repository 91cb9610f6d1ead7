"""Run an exported model with ONNX Runtime (no PyTorch): sessions and batched probabilities."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline.errors import ConfigError
from pipeline.export.metadata import INPUT_NAME, ModelMetadata, parse_metadata

log = logging.getLogger(__name__)


def open_session(model: str | Path | bytes, threads: int = 0) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on a model file or serialized bytes.

    Args:
        model: path to ``model.onnx`` or its bytes.
        threads: intra-op threads; 0 lets ONNX Runtime choose (one per core).

    Raises:
        ConfigError: when the file is missing or is not a loadable ONNX model.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    source = "<bytes>" if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes):
        if not Path(model).is_file():
            raise ConfigError(f"{model}: ONNX model not found")
        model = str(model)
    try:
        return ort.InferenceSession(model, sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ConfigError(f"{source}: ONNX Runtime cannot load the model: {exc}") from None


def session_metadata(session: ort.InferenceSession, source: str | Path = "model"
                     ) -> ModelMetadata:
    """The export metadata of a session's model (preprocessing, input kind, threshold...)."""
    return parse_metadata(session.get_modelmeta().custom_metadata_map, source)


def predict_proba(session: ort.InferenceSession, inputs: np.ndarray, batch_size: int = 64
                  ) -> np.ndarray:
    """Nodule probabilities ``(N,)`` float32 for network inputs ``(N, ...)``, in batches.

    Raises:
        ConfigError: when ``inputs`` does not match the model's input rank or sample shape.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    x = np.ascontiguousarray(inputs, dtype=np.float32)
    expected = session.get_inputs()[0].shape
    if x.ndim != len(expected) or any(isinstance(e, int) and e != g
                                      for e, g in zip(expected[1:], x.shape[1:], strict=True)):
        raise ConfigError(f"model input {INPUT_NAME!r} expects shape {expected}, got {x.shape}")
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    out = [session.run(["probability"], {INPUT_NAME: x[i:i + batch_size]})[0]
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32, copy=False)
