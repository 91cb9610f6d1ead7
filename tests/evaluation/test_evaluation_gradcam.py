import numpy as np
import torch

from pipeline.evaluation.gradcam import grad_cam
from pipeline.evaluation.report import render_montage, select_examples
from pipeline.models.registry import build_model


def test_gradcam_of_cnn3d_has_the_input_size_and_is_scaled_to_0_1():
    torch.manual_seed(0)
    model = build_model("cnn3d")
    cams = grad_cam(model, torch.rand(2, 1, 16, 16, 16))
    assert cams.shape == (2, 16, 16, 16)
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6


def test_gradcam_leaves_the_model_unchanged_and_in_its_mode():
    torch.manual_seed(0)
    model = build_model("seed2d").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cams = grad_cam(model, torch.rand(3, 1, 28, 28))
    assert cams.shape == (3, 28, 28)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_examples_are_the_most_confident_of_each_group():
    labels = np.array([1, 1, 0, 0, 1, 0])
    probs = np.array([0.9, 0.6, 0.8, 0.1, 0.2, 0.55])
    chosen = select_examples(labels, probs, threshold=0.5, per_group=1)
    assert chosen["true positive"].tolist() == [0]
    assert chosen["false positive"].tolist() == [2]
    assert chosen["false negative"].tolist() == [4]


def test_montage_png_is_reproducible():
    img = np.linspace(-1000, 200, 64).reshape(8, 8)
    cam = np.linspace(0, 1, 64).reshape(8, 8)
    args = ({"true positive": [img]}, {"true positive": [cam]}, {"true positive": ["C1 p=0.9"]}, 2)
    a, b = render_montage(*args), render_montage(*args)
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert a == b
