"""Network inputs from HU cubes: the one torch-free function training, export and predict share.

The contract (docs/data-contracts.md, ``preprocess.json``): cubes are int16 HU ``(N, C, C, C)``
with axes ``(z, y, x)`` and the candidate at voxel ``C // 2``. The 2D input is the axial slice
``cube[C//2, C//2 - S//2 : C//2 - S//2 + S, same for x]`` with ``S = slice_px``; every input is then
mapped to ``clip((hu - lo) / (hi - lo), 0, 1)`` with ``hu_window = [lo, hi]``.

No PyTorch here: ``predict`` runs on ONNX Runtime and must prepare inputs identically. The axial
slice and the HU window come from :mod:`pipeline.imaging.patches` (one implementation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipeline.errors import ConfigError
from pipeline.imaging.patches import central_slices, normalize_hu

__all__ = ["INPUT_KINDS", "central_slices", "model_inputs", "normalize_hu", "orthogonal_slices"]

INPUT_KINDS = ("slice2d", "cube3d", "multiview")


def _check_cubes(cubes: np.ndarray) -> None:
    if cubes.ndim != 4 or not (cubes.shape[1] == cubes.shape[2] == cubes.shape[3]):
        raise ValueError(f"expected cubes of shape (N, C, C, C), got {cubes.shape}")


def _window(c: int, s: int) -> slice:
    if s > c or s < 1:
        raise ConfigError(f"slice_px must be in 1..cube_size={c}, got {s}")
    start = c // 2 - s // 2
    return slice(start, start + s)


def orthogonal_slices(cubes: np.ndarray, slice_px: int) -> np.ndarray:
    """Axial, coronal and sagittal slices ``(N, 3, S, S)`` through the cube centre.

    Axial is ``cube[c, y, x]``, coronal ``cube[z, c, x]``, sagittal ``cube[z, y, c]``, each cropped
    to the same ``S``-pixel window around the centre.
    """
    _check_cubes(cubes)
    c = cubes.shape[1]
    w = _window(c, slice_px)
    axial = cubes[:, c // 2, w, w]
    coronal = cubes[:, w, c // 2, w]
    sagittal = cubes[:, w, w, c // 2]
    return np.stack([axial, coronal, sagittal], axis=1)


def model_inputs(cubes_hu: np.ndarray, input_kind: str, preprocess: Mapping[str, Any]
                 ) -> np.ndarray:
    """Turn HU cubes ``(N, C, C, C)`` into the float32 network input for ``input_kind``.

    Returns ``(N, 1, S, S)`` for ``slice2d``, ``(N, 1, C, C, C)`` for ``cube3d`` and
    ``(N, 3, S, S)`` for ``multiview``, windowed to ``[0, 1]`` with ``preprocess["hu_window"]``;
    ``S = preprocess["slice_px"]``.
    """
    cubes = np.asarray(cubes_hu)
    _check_cubes(cubes)
    if "hu_window" not in preprocess:
        raise ConfigError(f"preprocess must have 'hu_window', got keys {sorted(preprocess)}")
    window = preprocess["hu_window"]
    if input_kind == "cube3d":
        return np.ascontiguousarray(normalize_hu(cubes, window)[:, None])
    if "slice_px" not in preprocess:
        raise ConfigError(f"preprocess must have 'slice_px', got keys {sorted(preprocess)}")
    s = int(preprocess["slice_px"])
    if input_kind == "slice2d":
        return np.ascontiguousarray(normalize_hu(central_slices(cubes, s), window)[:, None])
    if input_kind == "multiview":
        return np.ascontiguousarray(normalize_hu(orthogonal_slices(cubes, s), window))
    raise ConfigError(f"input_kind must be one of {list(INPUT_KINDS)}, got {input_kind!r}")
