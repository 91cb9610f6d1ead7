"""Cubes and slices around world points, stored aligned with the world (LPS) axes.

A cube of edge ``C`` voxels is indexed ``(z, y, x)`` with increasing index = increasing world
coordinate along LPS z, y, x, whatever the volume's direction; voxel ``C // 2`` on each axis is the
candidate centre; voxels outside the volume are air (``pad_hu``, -1000 HU).

Two paths:
- **fast path** (direction is a signed axis permutation, ``Geometry.axis_permutation()``): the
  centre is rounded to the nearest voxel (half up), the cube is cut by integer slicing and then
  transposed/flipped into world order. The cube's centre voxel is therefore the volume voxel
  nearest the candidate: the sub-voxel offset is at most half a voxel per axis (0.5 mm at 1 mm),
  and values are the volume's own (no interpolation). Cube spacing = volume spacing per axis.
- **oblique path**: the world-aligned grid points (exact centre, step = the volume's isotropic
  spacing) are sampled with ``scipy.ndimage.map_coordinates`` (order 1, linear), then rounded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.errors import GeometryError
from pipeline.hu import AIR_HU
from pipeline.imaging.geometry import Geometry

AXES = "zyx-LPS-ascending"


def cube_size(cube_mm: float, spacing_mm: float) -> int:
    """Cube edge in voxels: ``cube_mm / spacing_mm`` rounded half up, at least 1."""
    if cube_mm <= 0 or spacing_mm <= 0:
        raise ValueError(f"expected cube_mm > 0 and spacing_mm > 0, got {cube_mm}, {spacing_mm}")
    return max(1, int(np.floor(cube_mm / spacing_mm + 0.5)))


def inside_volume(shape_zyx: tuple[int, ...], geometry: Geometry, centers_world_mm: np.ndarray
                  ) -> np.ndarray:
    """(N,) bool: the point lies within the volume's voxels (continuous voxel in [-0.5, n-0.5))."""
    voxels = geometry.world_to_voxel(np.asarray(centers_world_mm, dtype=np.float64).reshape(-1, 3))
    upper = np.asarray(shape_zyx, dtype=np.float64) - 0.5
    return np.all((voxels >= -0.5) & (voxels < upper), axis=1)


def extract_cubes(volume_hu: np.ndarray, geometry: Geometry, centers_world_mm: np.ndarray,
                  size: int, pad_hu: float = AIR_HU, out: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Cut world-aligned cubes around world points.

    Args:
        volume_hu: ``(z, y, x)`` HU array of the volume.
        geometry: the volume's geometry.
        centers_world_mm: ``(N, 3)`` world points ``(x, y, z)`` in mm (LPS).
        size: cube edge ``C`` in voxels.
        pad_hu: value outside the volume.
        out: optional ``(N, C, C, C)`` int16 array to fill (e.g. rows of a memory-mapped
            ``.npy``), which is returned; avoids allocating and copying the cubes again.

    Returns:
        ``(N, C, C, C)`` int16 cubes (axes ``zyx-LPS-ascending``) and an ``(N,)`` bool mask, True
        where the centre lies inside the volume.
    """
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (z, y, x) volume, got shape {volume_hu.shape}")
    if size < 1:
        raise ValueError(f"expected cube size >= 1, got {size}")
    centers = np.asarray(centers_world_mm, dtype=np.float64).reshape(-1, 3)
    inside = inside_volume(volume_hu.shape, geometry, centers)
    shape = (len(centers), size, size, size)
    if out is None:
        out = np.empty(shape, dtype=np.int16)
    elif out.shape != shape or out.dtype != np.int16:
        raise ValueError(f"expected out of shape {shape} int16, got {out.shape} {out.dtype}")
    if len(centers) == 0:
        return out, inside
    if geometry.axis_permutation() is None:
        _extract_oblique(volume_hu, geometry, centers, size, pad_hu, out)
    else:
        _extract_permuted(volume_hu, geometry, centers, size, pad_hu, out)
    return out, inside


def world_aligned_view(volume: np.ndarray, geometry: Geometry) -> np.ndarray:
    """A view of ``volume`` with axes (world z, y, x), increasing index = increasing world coord.

    Only for directions that are signed axis permutations; no data is copied (transpose and
    negative strides).
    """
    perm = geometry.axis_permutation()
    if perm is None:
        raise GeometryError(f"expected a direction that permutes/flips axes, got oblique "
                            f"{geometry.direction}")
    world_axis, sign = perm
    arr_world = [world_axis[2 - a] for a in range(3)]  # array axis a = index axis 2 - a
    view = np.transpose(volume, [arr_world.index(2 - d) for d in range(3)])
    flips = tuple(d for d in range(3) if sign[2 - arr_world.index(2 - d)] < 0)
    return np.flip(view, axis=flips) if flips else view


def _extract_permuted(volume: np.ndarray, geometry: Geometry, centers: np.ndarray, size: int,
                      pad_hu: float, cubes: np.ndarray) -> None:
    world_axis, sign = geometry.axis_permutation()  # type: ignore[misc]
    arr_world = [world_axis[2 - a] for a in range(3)]
    view = world_aligned_view(volume, geometry)
    # nearest voxel (half up) in array coordinates, then mapped into the view's coordinates
    rounded = np.floor(geometry.world_to_voxel(centers) + 0.5).astype(np.int64)
    centre_view = np.empty_like(rounded)
    for d in range(3):
        a = arr_world.index(2 - d)
        flipped = sign[2 - a] < 0
        centre_view[:, d] = volume.shape[a] - 1 - rounded[:, a] if flipped else rounded[:, a]
    starts = centre_view - size // 2
    shape = np.asarray(view.shape)
    pad = np.int16(np.clip(np.rint(pad_hu), -32768, 32767))
    interior = np.all((starts >= 0) & (starts + size <= shape), axis=1)
    # visit candidates in memory order of the volume: neighbours share cached lines
    for n in np.lexsort((starts[:, 2], starts[:, 1], starts[:, 0])).tolist():
        z, y, x = starts[n].tolist()
        if interior[n]:
            cubes[n] = view[z:z + size, y:y + size, x:x + size]
            continue
        cubes[n] = pad
        start = starts[n]
        lo = np.maximum(start, 0)
        hi = np.minimum(start + size, shape)
        if np.any(hi <= lo):
            continue
        dst = tuple(slice(int(a - s), int(b - s)) for a, b, s in zip(lo, hi, start, strict=True))
        cubes[(n, *dst)] = view[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


def _extract_oblique(volume: np.ndarray, geometry: Geometry, centers: np.ndarray, size: int,
                     pad_hu: float, cubes: np.ndarray) -> None:
    spacing = np.asarray(geometry.spacing)
    if not np.allclose(spacing, spacing[0], rtol=1e-3):
        raise GeometryError(f"oblique cube extraction needs an isotropic volume, got spacing "
                            f"{geometry.spacing} mm")
    steps = (np.arange(size) - size // 2) * spacing[0]
    gz, gy, gx = np.meshgrid(steps, steps, steps, indexing="ij")
    offsets = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)  # world (x, y, z)
    source = volume.astype(np.float32, copy=False)
    for n, center in enumerate(centers):
        voxels = geometry.world_to_voxel(center + offsets).T  # (3, C**3) in (z, y, x)
        values = ndimage.map_coordinates(source, voxels, order=1, mode="constant", cval=pad_hu,
                                         prefilter=False, output=np.float32)
        cubes[n] = np.rint(values).astype(np.int16).reshape(size, size, size)


def central_slices(cubes: np.ndarray, slice_px: int) -> np.ndarray:
    """``(N, S, S)`` axial slices ``cube[C//2, C//2 - S//2 : C//2 - S//2 + S, same in x]``."""
    if cubes.ndim != 4 or not cubes.shape[1] == cubes.shape[2] == cubes.shape[3]:
        raise ValueError(f"expected cubes of shape (N, C, C, C), got {cubes.shape}")
    c = cubes.shape[1]
    if not 1 <= slice_px <= c:
        raise ValueError(f"expected 1 <= slice_px <= cube size {c}, got {slice_px}")
    lo = c // 2 - slice_px // 2
    return np.ascontiguousarray(cubes[:, c // 2, lo:lo + slice_px, lo:lo + slice_px])


def normalize_hu(values: np.ndarray, hu_window: tuple[float, float]) -> np.ndarray:
    """``clip((hu - lo) / (hi - lo), 0, 1)`` as float32, with ``hu_window = (lo, hi)``."""
    lo, hi = float(hu_window[0]), float(hu_window[1])
    if not hi > lo:
        raise ValueError(f"expected hu_window [low, high] with low < high, got {[lo, hi]}")
    out = (np.asarray(values, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)
