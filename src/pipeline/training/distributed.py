"""Optional multi-process training with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N stages/train.py`` sets ``RANK`` and ``WORLD_SIZE``;
:func:`init_distributed` then joins the process group (gloo on CPU, NCCL on CUDA). Each rank
trains on a disjoint shard of the same seeded index stream (``train.batch_size`` is per rank),
DDP averages the gradients, and the loop re-broadcasts rank 0's BatchNorm buffers after every
epoch, so every rank validates the same weights and takes the same early-stopping decision.
Only rank 0 writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from pipeline.training.loop import epoch_indices, epoch_length


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str = "cpu") -> DistInfo:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1``; a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


class ShardedSampler(Sampler[int]):
    """Every rank draws the same seeded epoch stream (``pipeline.training.loop.epoch_indices``)
    and keeps every ``world_size``-th index from ``rank`` on."""

    def __init__(self, labels: np.ndarray, balance: str, seed: int, rank: int,
                 world_size: int, negatives_per_positive: int = 0) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.balance, self.seed = balance, seed
        self.negatives_per_positive = negatives_per_positive
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _stream(self) -> torch.Tensor:
        return epoch_indices(self.labels, self.balance, self.seed, self.epoch,
                             self.negatives_per_positive)

    def __iter__(self) -> Iterator[int]:
        return iter(self._stream()[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        n = epoch_length(self.labels, self.balance, self.negatives_per_positive)
        return len(range(self.rank, n, self.world_size))


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when the job has more than one rank."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return nn.parallel.DistributedDataParallel(model.to(device), device_ids=ids)


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
