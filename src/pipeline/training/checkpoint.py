"""The checkpoint ``models/model.pt``: what export, evaluate and predict need to rebuild a model.

A ``torch.save`` of a plain dict (docs/data-contracts.md). It is serialized to memory first, so the
archive's internal name does not depend on the (temporary) file name and the same weights always
give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.models.registry import build_model

REQUIRED_KEYS = ("model_name", "model_kwargs", "input_kind", "state_dict", "preprocess",
                 "train_params", "data_hash", "best_epoch", "val_auc")


def checkpoint_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """Serialize a checkpoint dict with ``torch.save`` to bytes (deterministic)."""
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise PipelineError(f"checkpoint must have keys {list(REQUIRED_KEYS)}, missing {missing}")
    buf = io.BytesIO()
    torch.save(dict(checkpoint), buf)
    return buf.getvalue()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict (tensors on CPU, ``weights_only`` loading: no arbitrary code)."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: checkpoint not found (run the train stage first)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise PipelineError(f"{path}: not a pipeline checkpoint, missing keys {missing}")
    return ckpt


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> nn.Module:
    """Rebuild the network of a checkpoint, load its weights, and put it in eval mode."""
    model = build_model(ckpt["model_name"], **dict(ckpt["model_kwargs"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
