"""Platt scaling of a fold's scores: fitted on labels, monotonic, the same in numpy and torch."""

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.models.calibration import (
    PlattScaled,
    apply_platt,
    fit_platt,
    logit,
    with_calibration,
)
from pipeline.models.tta import FlipAverage


def _overconfident(n=2000, seed=0):
    """Labels drawn from true probabilities, and scores with the same order but 4x the log-odds."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-0.5, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-4 * z))


def test_platt_undoes_an_overconfident_score_and_keeps_its_order():
    y, s = _overconfident()
    platt = fit_platt(y, s)
    assert platt is not None
    a, b = platt
    assert 0.15 < a < 0.4  # about 1/4: the log-odds were stretched 4x
    p = apply_platt(s, a, b)
    order = np.argsort(s)
    assert np.all(np.diff(p[order]) >= 0)  # monotonic: the fold's own ranking is kept
    loss = lambda q: -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))  # noqa: E731
    assert loss(p) < loss(s)


def test_platt_of_a_separable_part_is_finite_and_of_one_class_is_none():
    y = np.array([0, 0, 0, 1, 1])
    a, b = fit_platt(y, np.array([0.01, 0.02, 0.03, 0.98, 0.99]))
    assert np.isfinite(a) and np.isfinite(b) and a > 0
    assert fit_platt(np.zeros(4), np.linspace(0.1, 0.9, 4)) is None


class _Const(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)

    def forward(self, x):
        return self.logits[: len(x)]


def test_platt_scaled_network_matches_the_numpy_map():
    net = _Const([[0.3, -1.2], [2.0, 0.5], [-0.4, 1.9]])
    p = torch.softmax(net(torch.zeros(3, 1)), dim=1)[:, 1].numpy()
    scaled = PlattScaled(net, 0.7, -0.3)
    q = torch.softmax(scaled(torch.zeros(3, 1)), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(q, apply_platt(p, 0.7, -0.3), rtol=1e-5)
    assert with_calibration(net, None) is net


def test_platt_scaled_accepts_log_probabilities_of_a_flip_average():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()
    avg = FlipAverage(net, 2)
    x = torch.rand(5, 1, 4, 4)
    with torch.no_grad():
        p = torch.softmax(avg(x), dim=1)[:, 1].numpy()
        q = torch.softmax(PlattScaled(avg, 1.5, 0.2)(x), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(q, apply_platt(p, 1.5, 0.2), rtol=1e-4)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_logit_is_finite_at_the_ends(p):
    assert np.isfinite(logit(np.array([p]))).all()
