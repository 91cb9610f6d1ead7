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


def add_noise(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """Add zero-mean noise of standard deviation ``sigma`` to a normalized (0..1) input, clipped.

    The noise is uniform over 256 evenly spaced levels (one random byte per voxel, centred) with
    that standard deviation: bytes are the cheapest draw a generator makes (a float32 draw cost
    2x, a float64 Gaussian 5x, and noise was the largest part of an item's augmentation, which
    the training step waits for); the shape of a 2% intensity jitter does not matter to the
    network.
    """
    noise = rng.integers(-128, 128, size=x.shape, dtype=np.int8).astype(np.float32)
    noise += np.float32(0.5)
    noise *= np.float32(sigma / _INT8_LEVELS_STD)
    noise += x
    return np.clip(noise, 0.0, 1.0, out=noise)


def augment_cube(cube: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Flips, an axial 90-degree rotation and a small shift of one HU cube; same shape and dtype."""
    out = random_flip(cube, rng)
    out = random_rot90_axial(out, rng)
    out = random_shift(out, rng, max_voxels=max_shift)
    return np.ascontiguousarray(out)


def random_intensity(x: np.ndarray, rng: np.random.Generator, amount: float = 0.05
                     ) -> np.ndarray:
    """Scale a normalized (0..1) input by ``1 + u`` and shift it by ``v``, ``u, v`` uniform in
    ``[-amount, amount]``, clipped to 0..1: scanners and kernels differ in contrast and offset.
    ``amount=0.05`` is about 70 HU of offset in a 1400 HU window."""
    if amount <= 0:
        return x
    scale, shift = 1.0 + rng.uniform(-amount, amount, size=2)
    out = x * np.float32(scale)
    out += np.float32(shift - 1.0)
    return np.clip(out, 0.0, 1.0, out=out)
