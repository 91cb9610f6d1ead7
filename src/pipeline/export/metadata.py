"""What an exported model carries about itself: ONNX ``metadata_props`` written and read back.

``predict`` must preprocess a new scan exactly as the training data was preprocessed, with no
access to ``params.yaml`` or the patches folder, so the model file records it all. Every value is
a string (ONNX ``StringStringEntryProto``): plain strings stay as they are, everything else is
JSON with sorted keys, so the same inputs always give the same bytes.

No PyTorch here: this module is shared by ``export`` and the torch-free ``predict``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.io import read_json, to_jsonable

FORMAT_VERSION = "1"
CLASS_NAMES = ("non-nodule", "nodule")
INPUT_NAME = "input"
OUTPUT_NAMES = ("probability", "logits")
# keys of ``preprocess`` that predict needs to rebuild the network input from a DICOM series
REQUIRED_PREPROCESS = ("spacing_mm", "cube_size", "hu_window", "hu_range", "interpolator")


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(to_jsonable(value), sort_keys=True, allow_nan=False)


def build_metadata(checkpoint: Mapping[str, Any], input_shape: tuple[int, ...],
                   threshold: float | None, exporter: str) -> dict[str, str]:
    """The ``metadata_props`` of an exported model, as sorted ``{key: string}``.

    Args:
        checkpoint: the training checkpoint dict (``model_name``, ``input_kind``, ``preprocess``,
            ``train_params``, ``data_hash``, ``best_epoch``, ``val_auc``; see data-contracts.md).
        input_shape: the network input shape of one sample, without the batch axis.
        threshold: the operating threshold on the nodule probability (from ``evaluate``).
        exporter: a short description of the exporter and its version.

    Raises:
        ConfigError: when the checkpoint lacks a key predict needs.
    """
    for key in ("model_name", "input_kind", "preprocess"):
        if key not in checkpoint:
            raise ConfigError(f"checkpoint: expected key {key!r}, got keys {sorted(checkpoint)}")
    preprocess = dict(checkpoint["preprocess"])
    missing = [k for k in REQUIRED_PREPROCESS if k not in preprocess]
    if missing:
        raise ConfigError(f"checkpoint preprocess: expected keys {list(REQUIRED_PREPROCESS)}, "
                          f"missing {missing} (got {sorted(preprocess)})")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold}")
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_name": str(checkpoint["model_name"]),
        "model_kwargs": checkpoint.get("model_kwargs", {}),
        "input_kind": str(checkpoint["input_kind"]),
        "input_name": INPUT_NAME,
        "output_names": list(OUTPUT_NAMES),
        "input_shape": ["N", *(int(v) for v in input_shape)],
        "class_names": list(CLASS_NAMES),
        "threshold": "" if threshold is None else float(threshold),
        "preprocess": preprocess,
        "spacing_mm": preprocess["spacing_mm"],
        "hu_window": preprocess.get("hu_window", []),
        "hu_range": preprocess["hu_range"],
        "interpolator": preprocess["interpolator"],
        "anti_alias": preprocess.get("anti_alias", ""),
        "cube_size": preprocess["cube_size"],
        "slice_px": preprocess.get("slice_px", ""),
        "train_params": checkpoint.get("train_params", {}),
        "data_hash": str(checkpoint.get("data_hash", "")),
        "best_epoch": checkpoint.get("best_epoch", ""),
        "val_auc": checkpoint.get("val_auc", ""),
        "ensemble": checkpoint.get("ensemble", ""),
        "exporter": exporter,
    }
    return {k: _encode(meta[k]) for k in sorted(meta)}


@dataclass(frozen=True)
class ModelMetadata:
    """What predict reads back from an exported model."""

    model_name: str
    input_kind: str
    input_shape: tuple[int, ...]  # one sample, without the batch axis
    preprocess: dict[str, Any]
    class_names: tuple[str, ...]
    threshold: float | None
    raw: dict[str, str]


def parse_metadata(props: Mapping[str, str], source: str | Path = "model") -> ModelMetadata:
    """Parse ``metadata_props`` written by :func:`build_metadata`.

    Raises:
        ConfigError: naming ``source`` when a key is missing or unreadable (e.g. an ONNX model
            exported by another tool).
    """
    needed = ("model_name", "input_kind", "input_shape", "preprocess", "class_names")
    missing = [k for k in needed if k not in props]
    if missing:
        raise ConfigError(f"{source}: expected ONNX metadata keys {list(needed)}, missing "
                          f"{missing}; was it exported by stages/export.py?")
    try:
        shape = json.loads(props["input_shape"])
        preprocess = json.loads(props["preprocess"])
        class_names = json.loads(props["class_names"])
        threshold = float(props["threshold"]) if props.get("threshold") else None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: unreadable ONNX metadata: {exc}") from None
    missing = [k for k in REQUIRED_PREPROCESS if k not in preprocess]
    if missing:
        raise ConfigError(f"{source}: metadata 'preprocess' lacks {missing}")
    return ModelMetadata(model_name=props["model_name"], input_kind=props["input_kind"],
                         input_shape=tuple(int(v) for v in shape[1:]), preprocess=preprocess,
                         class_names=tuple(class_names), threshold=threshold, raw=dict(props))


def find_threshold(evaluation: Mapping[str, Any], source: str | Path = "evaluate.json") -> float:
    """The operating threshold recorded by ``evaluate``.

    Looks for a numeric ``threshold`` at the top level, then (breadth-first, keys in sorted order)
    in nested mappings, also accepting ``{"threshold": {"value": x}}``.

    Raises:
        ConfigError: when no numeric threshold is found.
    """
    queue: list[Mapping[str, Any]] = [evaluation]
    while queue:
        node = queue.pop(0)
        value = node.get("threshold")
        if isinstance(value, Mapping):
            value = value.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        queue.extend(node[k] for k in sorted(node, key=str) if isinstance(node[k], Mapping))
    raise ConfigError(f"{source}: expected a numeric 'threshold' (the operating point chosen on "
                      f"val), got keys {sorted(evaluation, key=str)}")


def read_threshold(path: str | Path) -> float:
    """Read the operating threshold from ``metrics/evaluate.json``."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: evaluation file not found (run the evaluate stage)") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return find_threshold(data, path)
