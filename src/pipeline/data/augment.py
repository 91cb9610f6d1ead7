"""Random augmentations of one candidate cube, each drawing from an explicit generator.

Pure NumPy functions on one HU cube ``(z, y, x)``; the caller owns the ``np.random.Generator``
(MONAI's habit), so the same generator state gives the same result. Geometric transforms keep the
candidate at the centre voxel (flips and axial 90-degree rotations are about the centre for even
and odd sizes alike up to one voxel; shifts are small by design).
"""

from __future__ import annotations

import numpy as np

from pipeline.hu import AIR_HU


def random_flip(cube: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Flip each of the three axes independently with probability ``p``."""
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(3) < p))
    return np.flip(cube, axis=axes) if axes else cube


def random_rot90_axial(cube: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate by k * 90 degrees in the axial (y, x) plane, k uniform in 0..3."""
    return np.rot90(cube, k=int(rng.integers(0, 4)), axes=(1, 2))


def random_shift(cube: np.ndarray, rng: np.random.Generator, max_voxels: int = 2,
                 fill: float = AIR_HU) -> np.ndarray:
    """Translate by up to ``max_voxels`` per axis; the uncovered border becomes ``fill``."""
    if max_voxels <= 0:
        return cube
    shifts = rng.integers(-max_voxels, max_voxels + 1, size=3)
    out = np.full_like(cube, fill)
    src, dst = [], []
    for s, n in zip(shifts, cube.shape, strict=True):
        s = int(s)
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = cube[tuple(src)]
    return out


#: standard deviation of the 256 levels -127.5 .. 127.5 (``int8`` draws shifted by 0.5)
_INT8_LEVELS_STD = float(np.sqrt((256.0**2 - 1.0) / 12.0))


def noise_bytes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The random bytes of :func:`add_noise` for an input of ``shape`` (one per voxel)."""
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def apply_noise(x: np.ndarray, noise: np.ndarray, sigma: float) -> np.ndarray:
    """``x`` plus the bytes ``noise`` (same shape) as zero-mean noise of standard deviation
    ``sigma``, clipped to 0..1: a new float32 array. Elementwise, so a batch of items gives each
    item exactly what it gets alone."""
    out = noise.astype(np.float32)
    out += np.float32(0.5)
    out *= np.float32(sigma / _INT8_LEVELS_STD)
    out += x
    return np.clip(out, 0.0, 1.0, out=out)


def add_noise(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """Add zero-mean noise of standard deviation ``sigma`` to a normalized (0..1) input, clipped.

    The noise is uniform over 256 evenly spaced levels (one random byte per voxel, centred) with
    that standard deviation: bytes are the cheapest draw a generator makes (a float32 draw cost
    2x, a float64 Gaussian 5x, and noise was the largest part of an item's augmentation, which
    the training step waits for); the shape of a 2% intensity jitter does not matter to the
    network.
    """
    return apply_noise(x, noise_bytes(rng, x.shape), sigma)


def centre_crop(cube: np.ndarray, edge: int) -> np.ndarray:
    """The central ``edge``-voxel cube of ``cube`` (a view): ``[lo, lo + edge)`` on each axis,
    ``lo = (C - edge) // 2``, the window a network cropping the same centre reads."""
    size = cube.shape[-1]
    if not 1 <= edge <= size:
        raise ValueError(f"crop edge must be in 1..{size}, got {edge}")
    lo = (size - edge) // 2
    window = slice(lo, lo + edge)
    return cube[..., window, window, window]


def augment_cube(cube: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Flips, an axial 90-degree rotation and a small shift of one HU cube; same shape and dtype."""
    out = random_flip(cube, rng)
    out = random_rot90_axial(out, rng)
    out = random_shift(out, rng, max_voxels=max_shift)
    return np.ascontiguousarray(out)


def intensity_params(rng: np.random.Generator, amount: float) -> tuple[np.float32, np.float32]:
    """The ``(scale, offset)`` of :func:`random_intensity`: ``1 + u`` and ``v``, ``u, v``
    uniform in ``[-amount, amount]``."""
    scale, shift = 1.0 + rng.uniform(-amount, amount, size=2)
    return np.float32(scale), np.float32(shift - 1.0)


def apply_intensity(x: np.ndarray, scale: np.ndarray | np.float32,
                    offset: np.ndarray | np.float32) -> np.ndarray:
    """``clip(x * scale + offset, 0, 1)`` as a new float32 array (per-item ``scale`` and
    ``offset`` broadcast over a batch)."""
    out = x * scale
    out += offset
    return np.clip(out, 0.0, 1.0, out=out)


def random_intensity(x: np.ndarray, rng: np.random.Generator, amount: float = 0.05
                     ) -> np.ndarray:
    """Scale a normalized (0..1) input by ``1 + u`` and shift it by ``v``, ``u, v`` uniform in
    ``[-amount, amount]``, clipped to 0..1: scanners and kernels differ in contrast and offset.
    ``amount=0.05`` is about 70 HU of offset in a 1400 HU window."""
    if amount <= 0:
        return x
    return apply_intensity(x, *intensity_params(rng, amount))
