"""Test-time augmentation: a network's mean class probability over the flips of its input.

A candidate is a nodule or not whichever way its cube is mirrored, and training already draws
those flips (:func:`pipeline.data.augment.random_flip`). Scoring a candidate as the mean over all
``2 ** d`` flips of its ``d`` spatial axes removes the orientation the single score happened to
be computed in: on the default cohort the out-of-fold CPM of ``cnn3d`` rose from 0.605 to 0.685
with the same weights, most of it at low false-positive rates, where confident single-view scores
of vessels and pleura tied with the nodules'.

:class:`FlipAverage` is one ONNX-friendly module (Flip is exported as Slice with step -1, the
views go through the network as one batch), so the held-out scores of training, the exported
graph and ``predict`` are the same function.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

#: ``train.tta`` values: ``none`` (one view) or ``flips`` (mean over every flip)
TTA_MODES = ("none", "flips")


def flip_sets(spatial_dims: int) -> list[tuple[int, ...]]:
    """Every subset of the spatial axes ``2 .. 2 + spatial_dims - 1`` of an ``(N, C, ...)``
    input, the empty one (the input as it is) first."""
    axes = range(2, 2 + spatial_dims)
    return [tuple(a for a, on in zip(axes, mask, strict=True) if on)
            for mask in itertools.product((False, True), repeat=spatial_dims)]


class FlipAverage(nn.Module):
    """Log of the mean softmax of ``network`` over every flip of the spatial axes, ``(N, K)``.

    The output is a log-probability, so its softmax is exactly the mean probability (as
    :class:`pipeline.export.ensemble.FoldEnsemble` returns it); the flipped copies go through the
    network as one batch of ``2 ** d * N`` items (eval-mode BatchNorm treats items alone).
    """

    def __init__(self, network: nn.Module, spatial_dims: int) -> None:
        super().__init__()
        if spatial_dims < 1:
            raise ValueError(f"FlipAverage needs at least one spatial axis, got {spatial_dims}")
        self.network = network
        self.flips = flip_sets(spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = torch.cat([x.flip(dims) if dims else x for dims in self.flips], dim=0)
        logits = self.network(views)
        probs = torch.softmax(logits, dim=1).reshape(len(self.flips), -1, logits.shape[1])
        return torch.log(probs.mean(dim=0).clamp_min(1e-12))


def tta_mode(train_params: Mapping[str, Any]) -> str:
    """The test-time augmentation a model's recorded ``train_params`` ask for (a record without
    the key predates it: ``none``)."""
    return str(train_params.get("tta", "none"))


def with_tta(network: nn.Module, mode: str, spatial_dims: int) -> nn.Module:
    """``network`` itself for ``none``; :class:`FlipAverage` of it for ``flips``."""
    if mode == "none":
        return network
    if mode == "flips":
        return FlipAverage(network, spatial_dims).eval()
    raise ValueError(f"tta must be one of {list(TTA_MODES)}, got {mode!r}")
