"""The baseline: a two-layer 2D CNN on one 28x28 axial slice through the candidate."""

from __future__ import annotations

import torch
from torch import nn


class Seed2D(nn.Module):
    """conv(1->32, 3x3, pad 1)-ReLU-maxpool(2) -> conv(32->64, 3x3, pad 1)-ReLU-maxpool(2)
    -> fc(64*7*7 -> 64)-ReLU -> fc(64 -> 2).

    Input ``(N, 1, 28, 28)`` in 0..1; output logits ``(N, 2)`` (class 1 = nodule).
    """

    def __init__(self, slice_px: int = 28, num_classes: int = 2) -> None:
        super().__init__()
        if slice_px % 4:
            raise ValueError(f"seed2d needs slice_px divisible by 4, got {slice_px}")
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(64 * (slice_px // 4) ** 2, 64)
        self.fc2 = nn.Linear(64, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        """The module whose activations Grad-CAM weighs (the last convolution)."""
        return self.conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(self.relu(self.fc1(x)))
