import sys

import numpy as np
import pytest

from pipeline.data.inputs import model_inputs
from pipeline.errors import ConfigError

PRE = {"slice_px": 4, "hu_window": [-1000.0, 400.0]}


def _cubes(n=2, c=8):
    return np.arange(n * c**3, dtype=np.int16).reshape(n, c, c, c) - 600


def test_slice2d_is_the_cropped_central_axial_slice_windowed():
    cubes = _cubes()
    out = model_inputs(cubes, "slice2d", PRE)
    assert out.shape == (2, 1, 4, 4) and out.dtype == np.float32
    expected = (cubes[:, 4, 2:6, 2:6].astype(np.float32) + 1000.0) / 1400.0
    np.testing.assert_allclose(out[:, 0], np.clip(expected, 0, 1), rtol=1e-6)


def test_cube3d_keeps_the_whole_cube_with_a_channel_axis():
    out = model_inputs(_cubes(), "cube3d", PRE)
    assert out.shape == (2, 1, 8, 8, 8) and out.dtype == np.float32


def test_multiview_stacks_axial_coronal_sagittal():
    cubes = _cubes(1)
    out = model_inputs(cubes, "multiview", PRE)
    assert out.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(out[0, 1] * 1400 - 1000, cubes[0, 2:6, 4, 2:6], atol=1e-3)
    np.testing.assert_allclose(out[0, 2] * 1400 - 1000, cubes[0, 2:6, 2:6, 4], atol=1e-3)


def test_hu_outside_the_window_is_clipped_to_0_and_1():
    cubes = np.full((1, 4, 4, 4), -3000, dtype=np.int16)
    cubes[0, 2] = 2000
    out = model_inputs(cubes, "cube3d", PRE)
    assert out.min() == 0.0 and out.max() == 1.0
    assert set(np.unique(out[0, 0, 2])) == {1.0}


def test_unknown_input_kind_is_rejected():
    with pytest.raises(ConfigError, match="input_kind"):
        model_inputs(_cubes(), "volume4d", PRE)


def test_inputs_module_does_not_need_torch():
    import pipeline.data.inputs as mod

    with open(mod.__file__, encoding="utf-8") as fh:
        source = fh.read()
    assert "import torch" not in source and "from torch" not in source
    assert "pipeline.data.inputs" in sys.modules
