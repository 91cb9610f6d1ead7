"""One fold of the cross-validation: train on the other folds, select on the inner validation
part, score the held-out fold.

``fit_fold`` returns the checkpoint, the fold's out-of-fold predictions (with the threshold chosen
on the inner validation part) and a summary; the stage script writes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.data.cube_store import CubeFile
from pipeline.data.cv_params import CvParams
from pipeline.data.datasets import (
    PatchDataset,
    data_hash,
    load_index_compact,
    load_preprocess,
)
from pipeline.data.folds import SPLITS, plan_fold, read_folds
from pipeline.data.patches_format import CUBES_FILE
from pipeline.errors import ConfigError, PipelineError
from pipeline.io import clean_nan
from pipeline.memory import pin_mmap_threshold
from pipeline.metrics import binary_metrics, choose_threshold
from pipeline.models.calibration import apply_platt, fit_platt
from pipeline.models.inference import predict_batches
from pipeline.models.registry import (
    MODELS,
    SPATIAL_DIMS,
    build_model,
    count_parameters,
    default_model_kwargs,
    input_kind,
)
from pipeline.models.tta import with_tta
from pipeline.numerics import numerics_record, pin_torch_threads
from pipeline.provenance import package_versions
from pipeline.tables import COORDS
from pipeline.training.checkpoint import fold_scorer
from pipeline.training.distributed import DistInfo, ShardedSampler, wrap_model
from pipeline.training.loop import EpochCallback, resolve_device, summary, train_model
from pipeline.training.oof import OOF_COLUMNS
from pipeline.training.params import TrainParams
from pipeline.training.seed import seed_everything

log = logging.getLogger(__name__)

#: what training reads of the patches' index.csv
TRAIN_INDEX_COLUMNS = ("row", "series_uid", "patient_id", "candidate_id", *COORDS, "label")
#: cubes per inference batch after training (memory: this many cubes and their inputs)
INFER_BATCH = 256


@dataclass(frozen=True)
class FoldResult:
    """What one fold's training produced."""

    checkpoint: dict[str, Any]
    oof: pd.DataFrame              # held-out candidates, OOF_COLUMNS
    summary: dict[str, Any]        # deterministic (no timings)
    timing: dict[str, Any]


def model_preprocess(patches_preprocess: dict[str, Any], cfg: TrainParams) -> dict[str, Any]:
    """The patches' preprocessing plus the model-input settings training applies."""
    size = int(patches_preprocess["cube_size"])
    if cfg.slice_px > size:
        raise ConfigError(f"{cfg.section}.slice_px must be <= the cube size {size} voxels, "
                          f"got {cfg.slice_px}")
    return {**patches_preprocess, "hu_window": list(cfg.hu_window), "slice_px": cfg.slice_px}


def open_cubes(patches_dir: str | Path) -> CubeFile:
    """``cubes.npy`` as a :class:`CubeFile`: rows read batch by batch, never the whole array."""
    path = Path(patches_dir) / CUBES_FILE
    if not path.is_file():
        raise PipelineError(f"{path}: expected the patches stage's cubes, not found")
    return CubeFile(path)


def train_record(cfg: TrainParams) -> dict[str, Any]:
    """The training parameters a checkpoint records (and the ONNX metadata and model card repeat).

    ``negatives_per_positive``, ``tta`` and ``calibration`` are recorded only when set: a record
    without them means the sampler and the one-view, uncalibrated scores of every run before the
    knobs existed, so models trained without them keep byte-identical files.
    """
    record = dataclasses.asdict(cfg)
    if record["negatives_per_positive"] == 0:
        del record["negatives_per_positive"]
    for key in ("tta", "calibration"):
        if record[key] == "none":
            del record[key]
    return record


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fit_fold(patches_dir: str | Path, folds_csv: str | Path, fold: int, cfg: TrainParams,
             cv: CvParams, on_epoch: EpochCallback | None = None,
             dist_info: DistInfo | None = None) -> FoldResult:
    """Train ``cfg.model`` for ``fold``: seeded, deterministic, threshold from inner validation."""
    if cfg.model not in MODELS:
        raise ConfigError(f"{cfg.section}.model must be one of {sorted(MODELS)}, "
                          f"got {cfg.model!r}")
    if fold not in cv.fold_ids:
        raise ConfigError(f"--fold must be one of cv.fold_ids {list(cv.fold_ids)}, got {fold}")
    pin_torch_threads()
    pin_mmap_threshold()  # the streamed batches must not grow the heap (pipeline.memory)
    generator = seed_everything(cfg.seed)
    preprocess = model_preprocess(load_preprocess(patches_dir), cfg)
    index = load_index_compact(patches_dir, list(TRAIN_INDEX_COLUMNS))  # a few bytes per candidate
    cubes = open_cubes(patches_dir)
    if len(cubes) != len(index) or (len(index) and not np.array_equal(
            index["row"].to_numpy(), np.arange(len(index)))):
        raise PipelineError(f"{patches_dir}: index.csv rows do not match cubes.npy "
                            f"({len(index)} rows, {len(cubes)} cubes)")
    plan = plan_fold(index, read_folds(folds_csv), fold, cv.inner_val, cv.seed)
    rows = {role: plan.rows(role) for role in SPLITS}
    del plan
    for role, r in rows.items():
        if not len(r):
            raise PipelineError(f"fold {fold}: no {role} candidates; use fewer cv.folds")
    labels = index["label"].to_numpy(dtype=np.int64)
    held = index.iloc[rows["heldout"]]
    del index  # only the held-out rows' ids are written (the oof table)
    kind = input_kind(cfg.model)
    kwargs = default_model_kwargs(cfg.model, preprocess)
    model = build_model(cfg.model, **kwargs)
    edge = getattr(model, "input_edge", None)  # train on what the network reads of a cube
    train_ds = PatchDataset(cubes, labels[rows["train"]], kind, preprocess, augment=cfg.augment,
                            seed=cfg.seed, rows=rows["train"],
                            crop=edge(int(preprocess["cube_size"])) if edge else None)
    val_ds = PatchDataset(cubes, labels[rows["val"]], kind, preprocess, augment=False,
                          rows=rows["val"])
    held_ds = PatchDataset(cubes, labels[rows["heldout"]], kind, preprocess, augment=False,
                           rows=rows["heldout"])
    info = dist_info or DistInfo()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    log.info("fold %d: training %s (%d parameters) on %d cubes (%d positive), validating on %d, "
             "scoring %d held out, on %s", fold, cfg.model, count_parameters(model),
             len(train_ds), int(labels[rows["train"]].sum()), len(val_ds), len(rows["heldout"]),
             device)
    sampler = (ShardedSampler(labels[rows["train"]], cfg.balance, cfg.seed, info.rank,
                              info.world_size, cfg.negatives_per_positive)
               if info.enabled else None)
    result = train_model(wrap_model(model, info, device), train_ds, val_ds, cfg, generator,
                         device=device, on_epoch=on_epoch, sampler=sampler, is_main=info.is_main)
    model.load_state_dict(result.best_state)
    model = model.to("cpu").eval()
    val_y = labels[rows["val"]]
    val_p = predict_batches(with_tta(model, cfg.tta, SPATIAL_DIMS[kind]),
                            val_ds.iter_inputs(INFER_BATCH))
    platt = fit_platt(val_y, val_p) if cfg.calibration == "platt" else None
    if cfg.calibration == "platt" and platt is None:
        log.warning("fold %d: the inner validation part holds one class; scores left "
                    "uncalibrated", fold)
    if platt is not None:
        val_p = apply_platt(val_p, *platt)
    scorer = fold_scorer(model, kind, cfg.tta, platt)  # what export deploys
    threshold = choose_threshold(val_y, val_p, cfg.threshold, cfg.target_sensitivity)
    held_p = predict_batches(scorer, held_ds.iter_inputs(INFER_BATCH))
    oof = held.assign(fold=fold, probability=np.round(held_p, 6), threshold=round(threshold, 6),
                      prediction=(held_p >= threshold).astype(np.int64))[OOF_COLUMNS]
    hashes = {"patches": data_hash(patches_dir), "folds": file_hash(folds_csv)}
    checkpoint = {
        "model_name": cfg.model, "model_kwargs": kwargs, "input_kind": kind,
        "state_dict": result.best_state, "preprocess": preprocess,
        "train_params": train_record(cfg), "data_hash": hashes["patches"],
        "best_epoch": result.best_epoch + 1, "val_auc": float(result.val_auc),
        "fold": fold, "threshold": float(threshold), "folds_hash": hashes["folds"],
    }
    if platt is not None:
        checkpoint["calibration"] = [platt[0], platt[1]]
    run = summary(result)
    timing = run.pop("timing")
    held_y = labels[rows["heldout"]]
    fold_summary = run | {
        "model": cfg.model, "fold": fold, "parameters": count_parameters(model),
        "threshold": float(threshold), "threshold_method": cfg.threshold,
        "inner_val": binary_metrics(val_y, val_p, threshold),
        "heldout": binary_metrics(held_y, held_p, threshold) | {
            "candidates": len(held_y), "positives": int(held_y.sum()),
            "patients": int(held["patient_id"].nunique())},
        "train_samples": len(train_ds), "val_samples": len(val_ds),
        "inner_val_fraction": cv.inner_val, "cv_seed": cv.seed,
        "world_size": info.world_size, "device": device.type, "numerics": numerics_record(),
        "versions": package_versions(), "data_hash": hashes,
    }
    if platt is not None:
        fold_summary["calibration"] = {"method": "platt", "a": round(platt[0], 6),
                                       "b": round(platt[1], 6)}
    return FoldResult(checkpoint=checkpoint, oof=oof.reset_index(drop=True),
                      summary=clean_nan(fold_summary), timing=timing)
