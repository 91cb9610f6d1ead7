import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from pipeline.export.onnx_export import export_onnx
from pipeline.models.registry import SPATIAL_DIMS, build_model
from pipeline.models.tta import FlipAverage, flip_sets, with_tta


class FirstVoxel(nn.Module):
    """Logits ``(0, x[..., 0, 0, 0])``: depends on which corner the input shows first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.reshape(x.shape[0], -1)[:, :1]
        return torch.cat([torch.zeros_like(v), v], dim=1)


def test_flip_sets_are_every_subset_of_the_spatial_axes_identity_first():
    assert flip_sets(2) == [(), (3,), (2,), (2, 3)]
    assert len(flip_sets(3)) == 8 and len(set(flip_sets(3))) == 8
    assert flip_sets(3)[0] == () and (2, 3, 4) in flip_sets(3)


def test_flip_average_is_the_mean_probability_over_the_eight_corners():
    x = torch.zeros(2, 1, 2, 2, 2)
    x[0, 0, 0, 0, 0] = 4.0           # one corner: seen in one flip of eight
    x[1] = 4.0                       # every corner: seen in all
    out = FlipAverage(FirstVoxel(), 3)(x)
    p = torch.softmax(out, dim=1)[:, 1]
    one = torch.sigmoid(torch.tensor(4.0))
    assert p[0] == pytest.approx(float((one + 7 * 0.5) / 8), abs=1e-6)
    assert p[1] == pytest.approx(float(one), abs=1e-6)


@pytest.mark.parametrize("name", ["cnn3d", "seed2d", "multiview"])
def test_flip_average_equals_flipping_by_hand_and_is_flip_invariant(name):
    torch.manual_seed(0)
    net = build_model(name).eval()
    kind = {"cnn3d": (3, 1, 32, 32, 32), "seed2d": (3, 1, 28, 28), "multiview": (3, 3, 28, 28)}
    x = torch.rand(*kind[name])
    dims = len(x.shape) - 2
    tta = with_tta(net, "flips", dims)
    with torch.no_grad():
        got = torch.softmax(tta(x), dim=1)[:, 1]
        by_hand = torch.stack([torch.softmax(net(x.flip(d) if d else x), dim=1)[:, 1]
                               for d in flip_sets(dims)]).mean(dim=0)
        mirrored = torch.softmax(tta(x.flip(2)), dim=1)[:, 1]
        plain = torch.softmax(net(x), dim=1)[:, 1]
    assert torch.allclose(got, by_hand, atol=1e-6)
    assert torch.allclose(got, mirrored, atol=1e-6)   # a flipped candidate scores the same
    assert not torch.allclose(got, plain, atol=1e-4)  # and it is not the one-view score


def test_with_tta_none_is_the_network_and_a_bad_mode_is_refused():
    net = build_model("cnn3d")
    assert with_tta(net, "none", 3) is net
    with pytest.raises(ValueError, match="tta must be one of"):
        with_tta(net, "rotations", 3)
    assert SPATIAL_DIMS == {"slice2d": 2, "cube3d": 3, "multiview": 2}


def test_flip_average_exports_to_onnx_with_the_same_probabilities():
    torch.manual_seed(1)
    net = FlipAverage(build_model("cnn3d").eval(), 3).eval()
    x = np.random.default_rng(0).random((4, 1, 32, 32, 32), dtype=np.float32)
    session = ort.InferenceSession(export_onnx(net, x, 17))
    p_onnx = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        p_torch = torch.softmax(net(torch.from_numpy(x)), dim=1)[:, 1].numpy()
    assert p_onnx.shape == (4,)
    np.testing.assert_allclose(p_onnx, p_torch, atol=1e-5)
