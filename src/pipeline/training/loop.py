"""The training loop: one plain loop you can read top to bottom (nanoGPT's habit).

Each epoch: train on balanced (or weighted) batches, score the validation split, log, keep the
weights of the best epoch by validation AUC, stop early after ``patience`` epochs without progress.
Logging to files (dvclive, JSON) happens in the caller through ``on_epoch``.

What keeps validation stable from one epoch to the next (the knobs default to the plain loop):
- full batches only (``drop_last``): a last batch of a handful of items would give BatchNorm
  batch statistics of a few samples and move its running statistics just before validation;
- ``lr_schedule: cosine`` with ``warmup_epochs``: the step size decays to 0 per step, so the last
  epochs refine rather than jump;
- ``ema_decay``: validation, selection and the checkpoint use an exponential moving average of the
  weights *and* of the BatchNorm running statistics (``AveragedModel(use_buffers=True)``), so the
  eval-mode statistics average over many batches and match the averaged weights.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Sampler

from pipeline.cli import progress
from pipeline.data.datasets import PatchDataset
from pipeline.memory import steps_on_heap
from pipeline.metrics import binary_metrics
from pipeline.models.inference import predict_batches
from pipeline.training.params import TrainParams
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


def epoch_indices(labels: np.ndarray, balance: str, seed: int, epoch: int,
                  negatives_per_positive: int = 0) -> torch.Tensor:
    """The item indices of one epoch, drawn from ``(seed, epoch)`` alone.

    - ``balance == "sampler"``, ``negatives_per_positive == 0``: as many draws as items, with
      replacement, each class drawn half the time (``torch.multinomial``, O(n) time and memory).
      At LUNA16's 1 nodule per ~500 candidates this epoch holds n items, about half of them
      repeats of the few positives (each drawn ~250 times) and sees ~40 % of the negatives.
    - ``balance == "sampler"``, ``negatives_per_positive == k > 0``: every positive once and
      ``min(k * positives, negatives)`` distinct negatives, shuffled: an epoch of
      ``positives * (1 + k)`` items however many negatives there are (O(n) to draw, not
      O(n^2)). The negatives are taken in turn from a seeded permutation of all of them (a new
      one every ``ceil(negatives / (k * positives))`` epochs), so consecutive epochs see
      different negatives and each such cycle of epochs sees every negative.
    - otherwise: a permutation of all items.
    """
    labels = np.asarray(labels, dtype=np.int64)
    g = torch.Generator()
    g.manual_seed(seed + 1_000_003 * epoch)
    n = len(labels)
    if balance == "sampler" and negatives_per_positive > 0:
        return _undersampled(labels, seed, epoch, negatives_per_positive, g)
    if balance == "sampler":
        w = torch.as_tensor(class_weights(labels)[labels], dtype=torch.double)
        return torch.multinomial(w, n, replacement=True, generator=g)
    return torch.randperm(n, generator=g)


def undersampled_length(labels: np.ndarray, negatives_per_positive: int) -> int:
    """Items per epoch of the ``negatives_per_positive`` sampler (see :func:`epoch_indices`)."""
    labels = np.asarray(labels, dtype=np.int64)
    pos = int((labels == 1).sum())
    return pos + min(len(labels) - pos, negatives_per_positive * max(pos, 1))


def _undersampled(labels: np.ndarray, seed: int, epoch: int, k: int, g: torch.Generator
                  ) -> torch.Tensor:
    pos = torch.from_numpy(np.flatnonzero(labels == 1))
    neg = torch.from_numpy(np.flatnonzero(labels != 1))
    take = undersampled_length(labels, k) - len(pos)
    items = pos
    if take > 0:
        # cycle c: one seeded permutation of the negatives, cut in ceil(N / take) epochs' chunks;
        # the last chunk is filled up from the permutation's start (still distinct in the epoch)
        per_cycle = -(-len(neg) // take)
        cycle, j = divmod(epoch, per_cycle)
        perm_g = torch.Generator()
        perm_g.manual_seed(seed + 7_919 * (cycle + 1))
        perm = torch.randperm(len(neg), generator=perm_g)
        chunk = perm[j * take:(j + 1) * take]
        chunk = torch.cat([chunk, perm[:take - len(chunk)]])
        items = torch.cat([pos, neg[chunk]])
    return items[torch.randperm(len(items), generator=g)]


def epoch_length(labels: np.ndarray, balance: str, negatives_per_positive: int = 0) -> int:
    """Items per epoch of :func:`epoch_indices`."""
    if balance == "sampler" and negatives_per_positive > 0:
        return undersampled_length(labels, negatives_per_positive)
    return len(labels)


class EpochSampler(Sampler[int]):
    """One epoch of indices drawn from ``(seed, epoch)`` alone (:func:`epoch_indices`).

    A sampler that draws from a shared generator whenever it is iterated gives another stream
    when a loader with workers starts its iterator (workers prefetch, so the draw happens at
    once) or is iterated twice; this one gives the same indices however it is driven.
    """

    def __init__(self, labels: np.ndarray, balance: str, seed: int,
                 negatives_per_positive: int = 0) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.balance, self.seed = balance, seed
        self.negatives_per_positive = negatives_per_positive
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_indices(self.labels, self.balance, self.seed, self.epoch,
                                  self.negatives_per_positive).tolist())

    def __len__(self) -> int:
        return epoch_length(self.labels, self.balance, self.negatives_per_positive)


def make_sampler(labels: np.ndarray, balance: str, generator: torch.Generator,
                 negatives_per_positive: int = 0) -> EpochSampler:
    """Balanced sampling (``sampler``, see :func:`epoch_indices`) or a shuffle otherwise, seeded
    by one draw from ``generator`` and then by the epoch."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return EpochSampler(labels, balance, seed, negatives_per_positive)


def make_loader(dataset: PatchDataset, cfg: TrainParams, generator: torch.Generator,
                sampler: Sampler[int] | None = None, pin_memory: bool = False) -> DataLoader:
    """A training DataLoader with seeded sampler and workers.

    Only full batches (when the epoch holds at least one): a short last batch would feed BatchNorm
    the statistics of a few items right before validation. Items are augmented from
    ``(seed, epoch, item)`` alone, so the number of workers does not change the result; workers
    are started per epoch (not persistent) so they see the dataset's current epoch.
    """
    if sampler is None:
        sampler = make_sampler(dataset.labels.numpy(), cfg.balance, generator,
                               cfg.negatives_per_positive)
    # The loader draws its workers' base seed from a generator of its own at every epoch.
    loader_gen = torch.Generator()
    loader_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    drop_last = len(sampler) >= cfg.batch_size  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                      num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                      generator=loader_gen, drop_last=drop_last, pin_memory=pin_memory)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainParams, steps_per_epoch: int
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning-rate factor: linear warm-up from 0.1 over ``warmup_epochs``, then constant
    or a cosine decay to 0 at the end of ``epochs``."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        if cfg.lr_schedule == "constant":
            return 1.0
        progress_ = min((step - warmup) / max(total - warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress_))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model: nn.Module, cfg: TrainParams, device: torch.device
                   ) -> torch.optim.Adam:
    """Adam (the seed's optimizer), fused on CPU and CUDA.

    The fused kernel is exact IEEE arithmetic (its square root is the CPU's own instruction);
    the per-tensor Adam takes ``sqrt`` from MKL's vector math, whose code follows the machine,
    and that alone made training on an emulated Intel and an emulated AMD CPU end in other weights
    than on this one, where every other op of a training step agreed bit for bit
    (``pipeline/numerics.py``).
    """
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            fused=fused)


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of the weights and buffers (BatchNorm statistics) of
    ``model``, or ``None`` when ``decay`` is 0."""
    if decay <= 0:
        return None
    return AveragedModel(_unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(decay),
                         use_buffers=True)


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
    other ranks' logs and progress. Validation always runs on the full val split, read and scored
    one batch at a time.
    """
    device = device or resolve_device(cfg.device)
    model.to(device)
    labels = train_ds.labels.numpy()
    weight = None
    if cfg.balance == "weighted_loss":
        weight = torch.as_tensor(class_weights(labels), dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    optimizer = make_optimizer(model, cfg, device)
    loader = make_loader(train_ds, cfg, generator, sampler, pin_memory=device.type == "cuda")
    scheduler = make_scheduler(optimizer, cfg, len(loader))
    ema = make_ema(model, cfg.ema_decay)
    val_y = val_ds.labels.numpy()
    val_batch = max(cfg.batch_size, 256)

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
        with steps_on_heap():  # a step reuses the last one's buffers (pipeline.memory)
            for x, y in batches:
                t_got = time.perf_counter()
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                loss = loss_fn(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update_parameters(_unwrap(model))
                total_loss += float(loss.detach()) * len(y)
                seen += len(y)
                t_ready_next = time.perf_counter()
                result.data_seconds += t_got - t_ready
                result.step_seconds += t_ready_next - t_got
                t_ready = t_ready_next
        result.samples_seen += seen
        _sync_buffers(model if ema is None else ema.module)
        scored = _unwrap(model) if ema is None else ema.module

        probs = predict_batches(scored, val_ds.iter_inputs(val_batch), device=device)
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
                {k: v.detach().cpu() for k, v in scored.state_dict().items()})
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
