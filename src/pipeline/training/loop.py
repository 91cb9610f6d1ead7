"""The training loop: one plain loop you can read top to bottom (nanoGPT's habit).

Each epoch: train on balanced (or weighted) batches, score the validation split, log, keep the
weights of the best epoch by validation AUC, stop early after ``patience`` epochs without progress.
Logging to files (dvclive, JSON) happens in the caller through ``on_epoch``.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, Sampler, WeightedRandomSampler

from pipeline.cli import progress
from pipeline.config import TrainParams
from pipeline.data.datasets import PatchDataset
from pipeline.metrics import binary_metrics
from pipeline.models.inference import predict_proba
from pipeline.training.seed import seed_worker

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What the loop produced: the best weights and how it got there."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    val_auc: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    samples_seen: int = 0
    data_seconds: float = 0.0   # time spent waiting for batches
    step_seconds: float = 0.0   # time spent in forward/backward/step

    @property
    def samples_per_second(self) -> float:
        """Training throughput: samples over the time spent fetching batches and stepping."""
        busy = self.data_seconds + self.step_seconds
        return self.samples_seen / busy if busy > 0 else 0.0

    @property
    def data_wait_fraction(self) -> float:
        total = self.data_seconds + self.step_seconds
        return self.data_seconds / total if total > 0 else 0.0


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights per class (0, 1), normalised so a balanced set gets 1.0 each."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=2).astype(np.float64)
    return np.where(counts > 0, counts.sum() / (2.0 * np.maximum(counts, 1)), 0.0)


def make_sampler(labels: np.ndarray, balance: str, generator: torch.Generator) -> Sampler[int]:
    """Balanced sampling with replacement (``sampler``) or a seeded shuffle otherwise."""
    if balance == "sampler":
        w = class_weights(labels)[np.asarray(labels, dtype=np.int64)]
        return WeightedRandomSampler(w.tolist(), len(labels),
                                     replacement=True, generator=generator)
    return RandomSampler(range(len(labels)), generator=generator)


def make_loader(dataset: PatchDataset, cfg: TrainParams, generator: torch.Generator,
                sampler: Sampler[int] | None = None) -> DataLoader:
    """A training DataLoader with seeded sampler and workers."""
    if sampler is None:
        sampler = make_sampler(dataset.labels.numpy(), cfg.balance, generator)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                      num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                      generator=generator, drop_last=False)


def _score(metrics: dict[str, float]) -> tuple[float, float]:
    """Ordering of epochs: higher val AUC, then lower val loss."""
    auc = metrics["val_auc"]
    return (-1.0 if math.isnan(auc) else auc, -metrics["val_loss"])


def train_model(model: nn.Module, train_ds: PatchDataset, val_ds: PatchDataset,
                cfg: TrainParams, generator: torch.Generator,
                device: torch.device | None = None, on_epoch: EpochCallback | None = None,
                sampler: Sampler[int] | None = None, is_main: bool = True) -> TrainResult:
    """Train ``model`` and return the best epoch's weights (by validation AUC).

    ``sampler`` lets a distributed caller pass a ``DistributedSampler``; ``is_main`` silences the
    other ranks' logs and progress. Validation always runs on the full val split.
    """
    device = device or resolve_device(cfg.device)
    model.to(device)
    labels = train_ds.labels.numpy()
    weight = None
    if cfg.balance == "weighted_loss":
        weight = torch.as_tensor(class_weights(labels), dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = make_loader(train_ds, cfg, generator, sampler)
    val_x = val_ds.all_inputs()
    val_y = val_ds.labels.numpy()

    best: tuple[float, float] | None = None
    result = TrainResult(best_state={}, best_epoch=-1, val_auc=math.nan, epochs_run=0)
    t_start = time.perf_counter()
    for epoch in range(cfg.epochs):
        train_ds.set_epoch(epoch)
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        model.train()
        total_loss, seen = 0.0, 0
        t_ready = time.perf_counter()
        batches = progress(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}") if is_main else loader
        for x, y in batches:
            t_got = time.perf_counter()
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(y)
            seen += len(y)
            t_ready_next = time.perf_counter()
            result.data_seconds += t_got - t_ready
            result.step_seconds += t_ready_next - t_got
            t_ready = t_ready_next
        result.samples_seen += seen
        _sync_buffers(model)

        probs = predict_proba(_unwrap(model), val_x, batch_size=max(cfg.batch_size, 256),
                              device=device)
        val_loss = float(nn.functional.binary_cross_entropy(
            torch.as_tensor(probs).clamp(1e-7, 1 - 1e-7),
            torch.as_tensor(val_y, dtype=torch.float64)))
        m = binary_metrics(val_y, probs, 0.5)
        metrics = {"epoch": epoch, "train_loss": total_loss / max(seen, 1), "val_loss": val_loss,
                   "val_auc": m["auc"], "val_sensitivity": m["sensitivity"],
                   "val_specificity": m["specificity"]}
        result.history.append(metrics)
        result.epochs_run = epoch + 1
        if is_main:
            log.info("epoch %d: train loss %.4f, val loss %.4f, val AUC %.4f", epoch + 1,
                     metrics["train_loss"], val_loss, m["auc"])
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if best is None or _score(metrics) > best:
            best = _score(metrics)
            result.best_epoch, result.val_auc = epoch, m["auc"]
            result.best_state = copy.deepcopy(
                {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()})
        elif epoch - result.best_epoch >= cfg.early_stopping_patience:
            if is_main:
                log.info("early stop after epoch %d (best %d)", epoch + 1, result.best_epoch + 1)
            break
    result.seconds = time.perf_counter() - t_start
    return result


def _sync_buffers(model: nn.Module) -> None:
    """Under torchrun, give every rank rank 0's BatchNorm statistics before validating."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for buf in _unwrap(model).buffers():
            torch.distributed.broadcast(buf.data, src=0)


def _unwrap(model: nn.Module) -> nn.Module:
    """The wrapped module of DistributedDataParallel, or the model itself."""
    return getattr(model, "module", model)


def summary(result: TrainResult) -> dict[str, Any]:
    """JSON-ready summary of a run for ``metrics/train.json``.

    Timings measure the machine, not the model, and differ run to run: they sit under ``timing``,
    which the train stage writes to a separate report so the metrics stay byte-reproducible.
    """
    return {"best_epoch": result.best_epoch + 1, "val_auc": result.val_auc,
            "epochs_run": result.epochs_run,
            "timing": {"train_seconds": round(result.seconds, 2),
                       "samples_per_second": round(result.samples_per_second, 1),
                       "data_wait_fraction": round(result.data_wait_fraction, 4)}}
