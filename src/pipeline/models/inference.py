"""Batched inference: probabilities of the nodule class from a network on prepared inputs."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_batches(model: nn.Module, batches: Iterable[np.ndarray | torch.Tensor],
                    device: torch.device | str = "cpu") -> np.ndarray:
    """Softmax probability of class 1 for every row of every batch, in eval mode, as float64
    ``(N,)``; each batch goes through the network as given, so a caller that streams its
    inputs (``PatchDataset.iter_inputs``) holds one batch at a time."""
    was_training = model.training
    model.eval()
    out = []
    for batch in batches:
        logits = model(torch.as_tensor(batch).to(device))
        out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    model.train(was_training)
    if not out:
        return np.zeros(0, dtype=np.float64)
    return torch.cat(out).numpy().astype(np.float64)


def predict_proba(model: nn.Module, inputs: np.ndarray | torch.Tensor, batch_size: int = 256,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """:func:`predict_batches` over the rows of ``inputs``, ``batch_size`` at a time."""
    x = torch.as_tensor(inputs)
    return predict_batches(model, (x[s:s + batch_size] for s in range(0, len(x), batch_size)),
                           device)
