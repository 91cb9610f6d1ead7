"""The checkpoint ``models/model.pt``: what export, evaluate and predict need to rebuild a model.

A ``torch.save`` of a plain dict (docs/data-contracts.md) whose keys :class:`Checkpoint` types:
every reader checks them through it, so a missing or mistyped key is one line naming the file and
the key. It is serialized to memory first, so the archive's internal name does not depend on the
(temporary) file name and the same weights always give the same bytes.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from pipeline.errors import InputError, PipelineError
from pipeline.models.calibration import with_calibration
from pipeline.models.registry import SPATIAL_DIMS, build_model
from pipeline.models.tta import tta_mode, with_tta
from pipeline.records import TypedRecord

#: keys a cross-validation fold adds (absent from a checkpoint trained outside the folds, and
#: ``calibration`` from a fold trained with ``calibration: none``)
FOLD_KEYS = ("fold", "threshold", "folds_hash", "calibration")


@dataclass(frozen=True)
class Checkpoint(TypedRecord):
    """The keys of ``model.pt``: the network (registry name, kwargs, weights), its inputs
    (``input_kind``; ``preprocess`` = ``preprocess.json`` plus ``hu_window`` and ``slice_px``),
    the training params and hashes of its data, the epoch kept and, per fold, the fold, its
    operating threshold, the fold table's hash and the Platt ``[a, b]`` its scores were
    recalibrated with (:mod:`pipeline.models.calibration`)."""

    file: ClassVar[str] = "model.pt"
    stage: ClassVar[str] = "train"

    model_name: str
    model_kwargs: dict[str, Any]
    input_kind: str
    state_dict: dict[str, Any]
    preprocess: dict[str, Any]
    train_params: dict[str, Any]
    data_hash: str
    best_epoch: int
    val_auc: float
    fold: int | None
    threshold: float | None
    folds_hash: str | None
    calibration: list[float] | None

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None) -> Checkpoint:
        """Check a checkpoint dict (the fold keys may be absent: ``None``)."""
        if isinstance(data, Mapping):
            data = {**{k: None for k in FOLD_KEYS}, **data}
        return super().from_dict(data, where)

    def to_dict(self) -> dict[str, Any]:
        """The dict ``torch.save`` writes (values as they are; absent fold keys left out)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in out.items() if not (k in FOLD_KEYS and v is None)}


REQUIRED_KEYS = tuple(k for k in Checkpoint.key_names() if k not in FOLD_KEYS)


def checkpoint_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """Serialize a checkpoint dict with ``torch.save`` to bytes (deterministic).

    Raises:
        InputError: a key of :class:`Checkpoint` is missing or mistyped (a bug of the writer).
    """
    Checkpoint.from_dict(checkpoint, "checkpoint")
    buf = io.BytesIO()
    torch.save(dict(checkpoint), buf)
    return buf.getvalue()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict (tensors on CPU, ``weights_only`` loading: no arbitrary code)."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: checkpoint not found (run the train stage first)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, Mapping):
        raise InputError(f"{path}: not a pipeline checkpoint (expected a dict of keys "
                         f"{list(Checkpoint.key_names())})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise InputError(f"{path}: not a pipeline checkpoint, missing keys {missing}")
    Checkpoint.from_dict(ckpt, str(path))
    return dict(ckpt)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The typed view of a checkpoint file (:class:`Checkpoint`)."""
    return Checkpoint.from_dict(load_checkpoint(path), str(path))


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> nn.Module:
    """Rebuild the network of a checkpoint, load its weights, and put it in eval mode."""
    model = build_model(ckpt["model_name"], **dict(ckpt["model_kwargs"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def fold_scorer(network: nn.Module, input_kind: str, tta: str,
                calibration: Sequence[float] | None) -> nn.Module:
    """What a fold's held-out scores are computed with: ``network``, averaged over the test-time
    flips ``tta``, then recalibrated with the Platt ``calibration`` (when set)."""
    platt = None if calibration is None else (float(calibration[0]), float(calibration[1]))
    return with_calibration(with_tta(network, tta, SPATIAL_DIMS[input_kind]), platt)  # type: ignore[index]


def scorer_from_checkpoint(ckpt: Mapping[str, Any]) -> nn.Module:
    """The fold's scorer (:func:`fold_scorer`) rebuilt from its checkpoint."""
    return fold_scorer(model_from_checkpoint(ckpt), ckpt["input_kind"],
                       tta_mode(ckpt["train_params"]), ckpt.get("calibration"))
