"""The classifier head shared by the conv networks: global average pool, dropout, linear."""

from __future__ import annotations

import torch
from torch import nn


class PooledClassifier(nn.Module):
    """``features`` -> global average pool -> dropout -> fc(``num_classes``).

    Subclasses build ``self.features`` (an ``nn.Sequential`` whose last block is the Grad-CAM
    target) and then call :meth:`add_head`; attribute names are part of the checkpoint format.
    """

    features: nn.Sequential

    def add_head(self, pool: nn.Module, width: int, dropout: float, num_classes: int) -> None:
        """Create the pool, dropout and linear layers after ``features`` (keeps init order)."""
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        """The last conv block, whose activations and gradients Grad-CAM uses."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))
