"""Batched inference: probabilities of the nodule class from a network on prepared inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_proba(model: nn.Module, inputs: np.ndarray | torch.Tensor, batch_size: int = 256,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """Softmax probability of class 1 for every input row, in eval mode, as float64 ``(N,)``."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(inputs)
    out = []
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size].to(device))
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    model.train(was_training)
    if not out:
        return np.zeros(0, dtype=np.float64)
    return torch.cat(out).numpy().astype(np.float64)
