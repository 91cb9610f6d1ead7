import pytest
import torch
from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.registry import (
    MODEL_NAMES,
    build_model,
    count_parameters,
    default_model_kwargs,
    input_kind,
)


def test_seed2d_has_the_exact_baseline_layers():
    model = build_model("seed2d")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]
    assert [(f.in_features, f.out_features) for f in fcs] == [(64 * 7 * 7, 64), (64, 2)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1  # shared, used twice


def test_seed2d_parameter_count():
    expected = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (3136 * 64 + 64) + (64 * 2 + 2)
    assert count_parameters(build_model("seed2d")) == expected == 219714


def test_seed2d_maps_a_28px_slice_to_two_logits_with_intermediate_shapes():
    model = build_model("seed2d").eval()
    x = torch.zeros(3, 1, 28, 28)
    h1 = model.pool(model.relu(model.conv1(x)))
    h2 = model.pool(model.relu(model.conv2(h1)))
    assert h1.shape == (3, 32, 14, 14)
    assert h2.shape == (3, 64, 7, 7)
    assert model(x).shape == (3, 2)


@pytest.mark.parametrize("name,shape", [("seed2d", (2, 1, 28, 28)), ("cnn3d", (2, 1, 32, 32, 32)),
                                        ("multiview", (2, 3, 28, 28))])
def test_every_registered_model_gives_two_logits_for_its_input_kind(name, shape):
    model = build_model(name, **default_model_kwargs(name, {"slice_px": 28})).eval()
    with torch.no_grad():
        assert model(torch.rand(shape)).shape == (2, 2)


def test_registry_names_and_input_kinds():
    assert set(MODEL_NAMES) == {"seed2d", "cnn3d", "multiview"}
    assert [input_kind(n) for n in ("seed2d", "cnn3d", "multiview")] == [
        "slice2d", "cube3d", "multiview"]


def test_unknown_model_name_is_rejected_with_the_known_names():
    with pytest.raises(ConfigError, match="expected one of"):
        build_model("resnet9000")


def test_cnn3d_is_small_enough_for_cpu_training():
    assert count_parameters(build_model("cnn3d")) < 500_000


def test_cnn3d_sees_only_the_central_crop_of_the_cube():
    model = build_model("cnn3d", crop=24).eval()
    x = torch.rand(2, 1, 32, 32, 32)
    y = x.clone()
    y[:, :, :4] = 0.0  # outside the central 24^3 (voxels 4..27 on every axis)
    y[:, :, :, 28:] = 1.0
    with torch.no_grad():
        assert torch.equal(model(x), model(y))
        z = x.clone()
        z[:, :, 16, 16, 16] += 0.5
        assert not torch.equal(model(x), model(z))


def test_cnn3d_uses_a_cube_smaller_than_its_crop_whole():
    model = build_model("cnn3d", crop=24).eval()
    with torch.no_grad():
        assert model(torch.rand(3, 1, 16, 16, 16)).shape == (3, 2)


def test_cnn3d_rejects_a_crop_that_three_pools_cannot_halve():
    with pytest.raises(ValueError, match="multiple of 8"):
        build_model("cnn3d", crop=20)


def test_cnn3d_gives_the_same_logits_for_the_cube_and_its_central_crop():
    # training feeds the central crop (PatchDataset crop=input_edge), predict the whole cube
    model = build_model("cnn3d", crop=24).eval()
    assert model.input_edge(32) == 24 and model.input_edge(16) == 16
    x = torch.rand(3, 1, 32, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x[:, :, 4:28, 4:28, 4:28].contiguous()))


def test_cnn3d_runs_its_convolutions_channels_last_for_a_one_channel_input():
    # contiguous(memory_format=channels_last_3d) keeps the strides of a contiguous one-channel
    # tensor, which oneDNN then runs on its slow path: the model builds the layout itself
    model = build_model("cnn3d", crop=24).eval()
    seen = {}
    model.features[0].register_forward_pre_hook(lambda m, args: seen.update(s=args[0].stride()))
    with torch.no_grad():
        model(torch.rand(2, 1, 24, 24, 24))
    assert seen["s"][1] == 1  # channels are the innermost dimension
