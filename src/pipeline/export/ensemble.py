"""The deployed model: the cross-validation's fold models as one network.

``FoldEnsemble`` returns the log of the fold models' mean class probabilities, so the exported
graph's ``probability`` output (softmax of what the network returns) is exactly the mean of the
folds' nodule probabilities, and ``logits`` are log-probabilities. Its operating threshold is the
median of the folds' thresholds, each chosen on that fold's inner validation part. Each member
is its fold's scorer as training computed the held-out scores with
(:func:`pipeline.training.checkpoint.scorer_from_checkpoint`): averaged over the test-time flips
(``train.tta: flips``) and recalibrated with the fold's Platt scaling (``train.calibration:
platt``), so ``predict`` gives the mean of the probabilities the cross-validation measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.errors import PipelineError


class FoldEnsemble(nn.Module):
    """Mean of the members' softmax probabilities, returned as log-probabilities ``(N, 2)``."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise PipelineError("an ensemble needs at least one fold model")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(dim=0)
        return torch.log(probs.clamp_min(1e-12))


def load_fold_models(paths: Sequence[str | Path]) -> tuple[nn.Module, dict[str, Any]]:
    """The ensemble (eval mode) and a checkpoint-like record describing it for the metadata.

    Raises:
        PipelineError: when the folds disagree on the model, its input or the preprocessing.
    """
    from pipeline.models.tta import tta_mode
    from pipeline.training.checkpoint import load_checkpoint, scorer_from_checkpoint

    ckpts = [load_checkpoint(p) for p in paths]
    first = ckpts[0]
    for path, c in zip(paths, ckpts, strict=True):
        for key in ("model_name", "input_kind", "preprocess", "model_kwargs", "data_hash"):
            if c[key] != first[key]:
                raise PipelineError(f"{path}: {key} differs from {paths[0]}'s; the fold models "
                                    "must come from one cross-validation run")
        for knob in ("tta", "calibration"):
            if c["train_params"].get(knob) != first["train_params"].get(knob):
                raise PipelineError(f"{path}: train_params.{knob} differs from {paths[0]}'s; "
                                    "the fold models must come from one cross-validation run")
    members = [scorer_from_checkpoint(c) for c in ckpts]
    thresholds = [float(c["threshold"]) for c in ckpts]
    record = {
        "model_name": f"{first['model_name']}",
        "model_kwargs": dict(first["model_kwargs"]),
        "input_kind": first["input_kind"], "preprocess": dict(first["preprocess"]),
        "train_params": first["train_params"], "data_hash": first["data_hash"],
        "best_epoch": [int(c["best_epoch"]) for c in ckpts],
        "val_auc": [round(float(c["val_auc"]), 6) for c in ckpts],
        "ensemble": {"members": len(ckpts), "folds": [int(c["fold"]) for c in ckpts],
                     "combine": "mean probability", "fold_thresholds": thresholds,
                     "tta": tta_mode(first["train_params"])},
        "threshold": float(np.median(thresholds)),
    }
    calibrations = [c.get("calibration") for c in ckpts]
    if any(cal is not None for cal in calibrations):
        record["ensemble"]["calibration"] = [
            None if cal is None else [round(float(v), 6) for v in cal] for cal in calibrations]
    return FoldEnsemble(members).eval(), record


def ensemble_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the export metrics say about the ensemble."""
    return {"members": record["ensemble"]["members"], "combine": record["ensemble"]["combine"],
            "tta": record["ensemble"]["tta"],
            **({"calibration": record["ensemble"]["calibration"]}
               if "calibration" in record["ensemble"] else {}),
            "threshold": round(record["threshold"], 6),
            "fold_thresholds": [round(t, 6) for t in record["ensemble"]["fold_thresholds"]]}
