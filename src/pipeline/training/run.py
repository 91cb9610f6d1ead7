"""From a patches folder and ``train`` params to a checkpoint dict and a metrics summary."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from pipeline.config import TrainParams
from pipeline.data.datasets import PatchDataset, data_hash, load_index, load_preprocess, load_split
from pipeline.models.registry import build_model, count_parameters, default_model_kwargs, input_kind
from pipeline.provenance import package_versions
from pipeline.training.distributed import DistInfo, ShardedSampler, wrap_model
from pipeline.training.loop import EpochCallback, resolve_device, summary, train_model
from pipeline.training.seed import seed_everything

log = logging.getLogger(__name__)


def fit(patches_dir: str | Path, cfg: TrainParams, on_epoch: EpochCallback | None = None,
        dist_info: DistInfo | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Seed, build the model, train on ``train``, select on ``val``.

    With ``dist_info`` of a ``torchrun`` job (see :mod:`pipeline.training.distributed`), the model
    is wrapped in DDP and each rank trains on its shard of the seeded sample stream.

    Returns ``(checkpoint, metrics)``: the checkpoint dict of docs/data-contracts.md (no times
    in it, so equal params and data give equal bytes) and the ``metrics/train.json`` content.
    """
    generator = seed_everything(cfg.seed)
    preprocess = load_preprocess(patches_dir)
    index = load_index(patches_dir)
    train = load_split(patches_dir, "train", index)
    val = load_split(patches_dir, "val", index)
    kind = input_kind(cfg.model)
    kwargs = default_model_kwargs(cfg.model, preprocess)
    model = build_model(cfg.model, **kwargs)
    train_ds = PatchDataset(train.cubes, train.labels, kind, preprocess, augment=cfg.augment,
                            seed=cfg.seed)
    val_ds = PatchDataset(val.cubes, val.labels, kind, preprocess, augment=False)
    info = dist_info or DistInfo()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    log.info("training %s (%d parameters) on %d cubes (%d positive), validating on %d, on %s",
             cfg.model, count_parameters(model), len(train_ds), int(train.labels.sum()),
             len(val_ds), device)
    sampler = (ShardedSampler(train.labels, cfg.balance, cfg.seed, info.rank, info.world_size)
               if info.enabled else None)
    result = train_model(wrap_model(model, info, device), train_ds, val_ds, cfg, generator,
                         device=device, on_epoch=on_epoch, sampler=sampler,
                         is_main=info.is_main)
    checkpoint = {
        "model_name": cfg.model, "model_kwargs": kwargs, "input_kind": kind,
        "state_dict": result.best_state, "preprocess": preprocess,
        "train_params": dataclasses.asdict(cfg), "data_hash": data_hash(patches_dir),
        "best_epoch": result.best_epoch + 1, "val_auc": float(result.val_auc),
    }
    metrics = summary(result) | {
        "model": cfg.model, "parameters": count_parameters(model),
        "versions": package_versions(), "device": device.type,
        "train_samples": len(train_ds), "val_samples": len(val_ds),
        "world_size": info.world_size,
    }
    return checkpoint, metrics
