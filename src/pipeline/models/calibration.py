"""Platt scaling: a fold's scores mapped to calibrated probabilities on its inner validation part.

LUNA16 pools the out-of-fold scores of every fold into one FROC, so a score must mean the same
in every fold: a candidate at 0.7 from fold 1 is ranked against one at 0.7 from fold 3. Models
trained on different patients are not calibrated alike (one fold's nodules sit at 0.9 and its
vessels at 0.3, another's at 0.7 and 0.1), and the pooled curve then ranks by fold as much as by
candidate; on the default cohort the pooled CPM was below the mean of the folds' own CPMs.

Platt (1999) fits ``p = sigmoid(a * logit(s) + b)`` to a fold's inner-validation labels, with
his smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` so a separable validation
part gives finite ``a, b``. It is monotonic: a fold's own ranking (AUC, its own FROC) does not
change. :class:`PlattScaled` applies it to a network's output inside the graph, so the held-out
scores, the exported ensemble and ``predict`` compute the same function.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

#: ``train.calibration`` values
CALIBRATIONS = ("none", "platt")
_EPS = 1e-12  # as FlipAverage clamps its mean probability


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[1e-12, 1 - 1e-12]``, float64."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def fit_platt(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float] | None:
    """``(a, b)`` of Platt scaling for probabilities ``scores`` of binary ``labels``; ``None``
    when the labels hold one class only (nothing to fit)."""
    y = np.asarray(labels).astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return None
    target = np.where(y, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
    f = logit(scores)

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * f + ab[1]
        # cross-entropy of sigmoid(z) against the targets, stable in z: log(1 + e^z) - t z
        value = float(np.sum(np.logaddexp(0.0, z) - target * z))
        r = 1.0 / (1.0 + np.exp(-z)) - target
        return value, np.array([float(np.sum(r * f)), float(np.sum(r))])

    res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="BFGS")
    return float(res.x[0]), float(res.x[1])


def apply_platt(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    """``sigmoid(a * logit(scores) + b)``, float64."""
    z = a * logit(scores) + b
    return 1.0 / (1.0 + np.exp(-z))


class PlattScaled(nn.Module):
    """``network``'s two-class output recalibrated: logits ``(0, a * (l1 - l0) + b)``.

    ``l1 - l0`` is the logit of the network's class-1 probability whether it returns logits or
    log-probabilities (:class:`pipeline.models.tta.FlipAverage`), so the softmax of the output is
    ``sigmoid(a * logit(p) + b)``.
    """

    def __init__(self, network: nn.Module, a: float, b: float) -> None:
        super().__init__()
        self.network = network
        self.ab: torch.Tensor
        self.register_buffer("ab", torch.tensor([a, b], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        z = self.ab[0] * (out[:, 1] - out[:, 0]) + self.ab[1]
        return torch.stack([torch.zeros_like(z), z], dim=1)


def with_calibration(network: nn.Module, platt: tuple[float, float] | None) -> nn.Module:
    """``network`` itself when ``platt`` is ``None``, else :class:`PlattScaled` of it."""
    if platt is None:
        return network
    return PlattScaled(network, *platt).eval()
