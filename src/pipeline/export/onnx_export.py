"""Export a trained classifier to ONNX: probability head, dynamic batch, pinned opset, metadata.

We use the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``). On torch 2.13 the
torch.export-based exporter ignores ``opset_version=17`` (it emits opset 18 after a failed
down-conversion), takes seconds instead of tens of milliseconds for our small CNNs and logs
noisily; the TorchScript exporter honours the pinned opset, folds BatchNorm into the convolutions
and names nodes after the module path, so exporting the same weights twice gives the same bytes.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping

import numpy as np
import onnx
import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.export.metadata import INPUT_NAME, OUTPUT_NAMES

log = logging.getLogger(__name__)

EXPORTER = f"torch.onnx TorchScript exporter (dynamo=False), torch {torch.__version__}"


class ProbabilityHead(nn.Module):
    """Wrap a logits network ``(N, 2)`` so it returns ``(softmax(logits)[:, 1], logits)``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(x)
        return torch.softmax(logits, dim=1)[:, 1], logits


def export_onnx(network: nn.Module, example: np.ndarray, opset: int,
                metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialize ``network`` (logits ``(N, 2)``) as ONNX bytes with a probability output.

    The graph takes ``input`` (float32, dynamic batch axis ``N``) and returns ``probability``
    ``(N,)`` and ``logits`` ``(N, 2)``. ``metadata`` goes into ``metadata_props`` (sorted). The
    result passes ``onnx.checker.check_model``.

    Args:
        network: the trained network; exported in eval mode (it is not modified).
        example: one or more network inputs ``(n, ...)``, used to trace the graph.
        opset: the ONNX opset to pin.
        metadata: string key/values to store in the model.
    """
    x = torch.from_numpy(np.ascontiguousarray(example[:1], dtype=np.float32))
    was_training = network.training
    head = ProbabilityHead(network).eval()
    dynamic = {name: {0: "N"} for name in (INPUT_NAME, *OUTPUT_NAMES)}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*feature will be removed.*")
            torch.onnx.export(head, (x,), buffer,  # type: ignore[arg-type]
                              dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes=dynamic, do_constant_folding=True)
    finally:
        network.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    del proto.metadata_props[:]
    for key in sorted(metadata or {}):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(metadata[key])  # type: ignore[index]
    proto.doc_string = "Lung nodule classifier: input -> probability of class 'nodule'"
    onnx.checker.check_model(proto, full_check=True)
    versions = {o.domain: o.version for o in proto.opset_import}
    if versions.get("", versions.get("ai.onnx")) != opset:
        raise ConfigError(f"exporter produced opset {versions}, expected {opset}")
    return proto.SerializeToString(deterministic=True)
