"""``train:`` and ``baseline:`` of ``params.yaml``: one recipe per trained model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import Section, bounds
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class TrainParams(Section):
    """A training recipe; ``section`` says which of ``train``/``baseline`` it came from.

    The model name is checked against the registry by training (so this module stays free of
    torch).
    """

    model: str
    seed: int
    epochs: int = bounds(1)
    batch_size: int = bounds(1)
    lr: float = bounds(0, lo_open=True)
    weight_decay: float = bounds(0)
    balance: Literal["sampler", "weighted_loss", "none"] = bounds()
    augment: bool = bounds()
    early_stopping_patience: int = bounds(1)
    device: str = bounds()
    num_workers: int = bounds(0)
    hu_window: tuple[float, float] = bounds(ordered=True, strict=True)
    slice_px: int = bounds(1)
    threshold: Literal["youden", "sensitivity"] = bounds()
    target_sensitivity: float = bounds(0, 1, lo_open=True)
    # Optional (their defaults keep the plain Adam-at-constant-lr loop of the seed2d baseline;
    # params.yaml states them for both sections):
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: per-step decay to 0
    # linear warm-up from lr/10, in epochs, before the schedule
    warmup_epochs: int = bounds(0, default=0)
    # exponential moving average of weights and BN buffers (0 = off)
    ema_decay: float = bounds(0, 1, hi_open=True, default=0.0)
    # balance: sampler only: 0 = n draws with replacement per epoch, class-balanced; k > 0 = every
    # positive once and k distinct negatives per positive per epoch (LUNA16's 1:500 ratio)
    negatives_per_positive: int = bounds(0, default=0)
    # test-time augmentation of the held-out, inner-validation and deployed scores: none, or
    # flips = the mean probability over every flip of the input's axes (pipeline.models.tta)
    tta: Literal["none", "flips"] = "none"
    # the fold's scores recalibrated on its inner validation part (pipeline.models.calibration):
    # none, or platt = sigmoid(a * logit(p) + b), so scores from different folds are comparable
    calibration: Literal["none", "platt"] = "none"
    section: str = "train"

    def check(self, prefix: str) -> None:
        if self.negatives_per_positive and self.balance != "sampler":
            raise ConfigError(f"{prefix}.negatives_per_positive applies to balance: sampler only, "
                              f"got {self.negatives_per_positive} with balance: {self.balance}")
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(
                f"{prefix}.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
