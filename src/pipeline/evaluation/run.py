"""Evaluate a checkpoint: score val and test, choose the threshold on val, measure on test.

Returns everything the ``evaluate`` stage writes, as tables, dicts, PNG bytes and Markdown, so the
stage script only writes files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.config import EvaluateParams
from pipeline.data.datasets import data_hash, load_index, load_split
from pipeline.data.inputs import model_inputs
from pipeline.evaluation.bootstrap import bootstrap_ci
from pipeline.evaluation.froc import froc
from pipeline.evaluation.gradcam import grad_cam
from pipeline.evaluation.metrics import binary_metrics, choose_threshold, pr_table, roc_table
from pipeline.evaluation.report import (
    GROUPS,
    axial_views,
    model_card,
    render_montage,
    select_examples,
)
from pipeline.io import read_csv
from pipeline.models.inference import predict_proba
from pipeline.training.checkpoint import load_checkpoint, model_from_checkpoint

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["split", "series_uid", "patient_id", "candidate_id", "coordX", "coordY",
                      "coordZ", "label", "probability"]
CLASS_NAMES = ("not nodule", "nodule")


@dataclass
class Evaluation:
    """The outputs of ``evaluate``."""

    predictions: pd.DataFrame
    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame]   # file name under plots/eval -> table
    montage_png: bytes
    model_card: str


def clean_nan(value: Any) -> Any:
    """Replace NaN floats (undefined metrics) by None, recursively, for strict JSON."""
    if isinstance(value, Mapping):
        return {k: clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_nan(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def split_counts(index: pd.DataFrame) -> pd.DataFrame:
    """Patients, scans, candidates and positives per split."""
    rows = []
    for split in ("train", "val", "test"):
        part = index[index["split"] == split]
        rows.append({"split": split, "patients": part["patient_id"].nunique(),
                     "scans": part["series_uid"].nunique(), "candidates": len(part),
                     "positives": int(part["label"].sum())})
    return pd.DataFrame(rows)


def evaluate_checkpoint(checkpoint_path: str | Path, patches_dir: str | Path, cfg: EvaluateParams,
                        data_metrics: Mapping[str, Any] | None = None) -> Evaluation:
    """Score val and test with the checkpoint and compute every evaluation output."""
    torch.manual_seed(cfg.seed)
    ckpt = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(ckpt)
    kind, pre = ckpt["input_kind"], ckpt["preprocess"]
    current = data_hash(patches_dir)
    if current != ckpt["data_hash"]:
        log.warning("patches folder hash %s differs from the checkpoint's %s", current[:12],
                    ckpt["data_hash"][:12])
    index = load_index(patches_dir)
    splits = {s: load_split(patches_dir, s, index) for s in ("val", "test")}
    probs = {s: predict_proba(model, model_inputs(sp.cubes, kind, pre)) for s, sp in splits.items()}
    preds = pd.concat([sp.index.assign(probability=np.round(probs[s], 6))[PREDICTION_COLUMNS]
                       for s, sp in splits.items()], ignore_index=True)

    val_y, test_y = splits["val"].labels, splits["test"].labels
    threshold = choose_threshold(val_y, probs["val"], cfg.threshold, cfg.target_sensitivity)
    test_p = probs["test"]
    groups = splits["test"].index["patient_id"].to_numpy()
    cis = bootstrap_ci(test_y, test_p, groups, lambda y, p: binary_metrics(y, p, threshold),
                       cfg.bootstrap, cfg.seed)

    ann_path = Path(patches_dir) / "annotations.csv"
    annotations = read_csv(ann_path) if ann_path.exists() else pd.DataFrame(
        columns=["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "split"])
    test_ann = annotations[annotations["split"] == "test"]
    test_index = splits["test"].index.assign(probability=test_p)
    n_scans = len(set(test_index["series_uid"]) | set(test_ann["seriesuid"].astype(str)))
    fr = froc(test_index, test_ann, max(n_scans, 1))

    metrics = {
        "model": ckpt["model_name"],
        "threshold": {"value": threshold, "method": cfg.threshold, "chosen_on": "val",
                      **({"target_sensitivity": cfg.target_sensitivity}
                         if cfg.threshold == "sensitivity" else {})},
        "test": {**cis, "candidates": len(test_y), "positives": int(test_y.sum()),
                 "patients": int(len(set(groups)))},
        "val": {"auc": binary_metrics(val_y, probs["val"], threshold)["auc"],
                "candidates": len(val_y)},
        "froc": {"cpm": fr.cpm, "n_nodules": fr.n_nodules, "n_scans": fr.n_scans,
                 "n_detected": fr.n_detected,
                 "sensitivity_at": {f"{k:g}": v for k, v in fr.sensitivities.items()}},
        "bootstrap": {"resamples": cfg.bootstrap, "unit": "patient", "seed": cfg.seed,
                      "confidence": 0.95},
        "data_hash": current,
    }

    confusion = pd.DataFrame({
        "actual": [CLASS_NAMES[int(v)] for v in test_y],
        "predicted": [CLASS_NAMES[int(v)] for v in (test_p >= threshold)]})
    curve = fr.curve[np.isfinite(fr.curve["threshold"])]
    curve = curve[curve["fps_per_scan"] > 0] if (curve["fps_per_scan"] > 0).any() else curve
    plots = {"roc.csv": roc_table(test_y, test_p).round(6), "pr.csv": pr_table(test_y, test_p)
             .round(6), "confusion.csv": confusion, "froc.csv": curve.round(6)}

    chosen = select_examples(test_y, test_p, threshold, cfg.montage_per_group)
    images: dict[str, np.ndarray] = {}
    cams: dict[str, np.ndarray] = {}
    captions: dict[str, list[str]] = {}
    cubes = np.asarray(splits["test"].cubes)
    ids = splits["test"].index["candidate_id"].to_numpy()
    for g in GROUPS:
        rows = chosen[g]
        if not len(rows):
            continue
        cam = grad_cam(model, model_inputs(cubes[rows], kind, pre))
        images[g], cams[g] = axial_views(cubes[rows], cam, kind, int(pre["slice_px"]))
        captions[g] = [f"{ids[i]} p={test_p[i]:.2f}" for i in rows]
    montage = render_montage(images, cams, captions, cfg.montage_per_group)
    card = model_card(clean_nan(metrics), ckpt, split_counts(index), data_metrics)
    return Evaluation(predictions=preds, metrics=clean_nan(metrics), plots=plots,
                      montage_png=montage, model_card=card)
