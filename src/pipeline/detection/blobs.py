"""Multi-scale blob detection: normalised Laplacian of Gaussian, Hessian blobness at the peaks.

A sphere of radius ``r`` gives the strongest scale-normalised response ``-sigma^2 * LoG`` at its
centre for ``sigma = r / sqrt(3)`` (Lindeberg 1998). Vessels (tubes) and the pleura (sheets) give
LoG responses too; at each peak the Hessian of the smoothed image tells them apart: a blob curves
down along all three axes, a tube along two, a sheet along one (Li, Sone and Doi 2003, "dot
enhancement filter"). Large scales are computed on a coarser grid (the image is smoothed before
being subsampled), so the whole pyramid costs a few full-resolution filters.

Arrays are ``(z, y, x)``; spacings are given along the same axes, in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SQRT3 = float(np.sqrt(3.0))
MIN_SIGMA_VOXELS = 1.5  # smallest Gaussian (in voxels of a level) before a level is subsampled
MAX_LEVEL_STEP = 4


@dataclass(frozen=True)
class Blobs:
    """Peaks of one or more scales: voxel ``(z, y, x)`` on the input grid and their measures.

    Attributes:
        voxel: ``(N, 3)`` float voxel coordinates on the input grid.
        radius_mm: ``(N,)`` radius of the scale the peak was found at.
        response: ``(N,)`` scale-normalised LoG (HU).
        blob_ratio: ``(N,)`` weakest / strongest downward curvature (1 sphere, 0 tube or sheet;
            negative when the weakest curvature points up).
        center_hu: ``(N,)`` the smoothed image at the peak (mean HU of the blob's core).
    """

    voxel: np.ndarray
    radius_mm: np.ndarray
    response: np.ndarray
    blob_ratio: np.ndarray
    center_hu: np.ndarray

    @classmethod
    def empty(cls) -> Blobs:
        z = np.zeros(0)
        return cls(np.zeros((0, 3)), z, z, z, z)

    @classmethod
    def concat(cls, parts: list[Blobs]) -> Blobs:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts])
                     for k in ("voxel", "radius_mm", "response", "blob_ratio", "center_hu")))

    def select(self, keep: np.ndarray) -> Blobs:
        return Blobs(self.voxel[keep], self.radius_mm[keep], self.response[keep],
                     self.blob_ratio[keep], self.center_hu[keep])

    def __len__(self) -> int:
        return len(self.radius_mm)


def scale_radii_mm(radius_mm: tuple[float, float], scales: int) -> np.ndarray:
    """``scales`` radii, geometric from ``radius_mm[0]`` to ``radius_mm[1]``."""
    if scales == 1:
        return np.array([float(radius_mm[0])])
    return np.geomspace(radius_mm[0], radius_mm[1], scales)


def level_step(sigma_mm: float, spacing_mm: float) -> int:
    """Subsampling factor (power of two, at most 4) keeping ``MIN_SIGMA_VOXELS`` per sigma."""
    step = 1
    while step < MAX_LEVEL_STEP and sigma_mm / (spacing_mm * step * 2) >= MIN_SIGMA_VOXELS:
        step *= 2
    return step


def detect_blobs(image: np.ndarray, spacing_mm: tuple[float, float, float], mask: np.ndarray,
                 radii_mm: np.ndarray, min_response: float) -> Blobs:
    """Local maxima of ``-sigma^2 LoG`` inside ``mask`` at each radius, with their measures.

    Args:
        image: ``(z, y, x)`` float HU (already clipped / filled as wanted).
        spacing_mm: voxel size along ``(z, y, x)``.
        mask: bool ``(z, y, x)``; only peaks inside it are kept.
        radii_mm: radii searched (``sigma = r / sqrt(3)``).
        min_response: peaks weaker than this (HU) are dropped.
    """
    img = np.asarray(image, dtype=np.float32)
    s_min = float(min(spacing_mm))
    levels: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    parts = []
    for r in radii_mm:
        sigma = float(r) / SQRT3
        step = level_step(sigma, s_min)
        if step not in levels:
            levels[step] = _level(img, mask, step, spacing_mm)
        level_img, level_mask, pre_sigma_mm = levels[step]
        level_spacing = tuple(s * step for s in spacing_mm)
        remaining = np.sqrt(max(sigma**2 - pre_sigma_mm**2, 0.25 * min(level_spacing) ** 2))
        smooth = ndimage.gaussian_filter(level_img, [remaining / s for s in level_spacing],
                                         mode="nearest")
        parts.append(_peaks(smooth, level_mask, level_spacing, sigma, float(r), step,
                            min_response))
    return Blobs.concat(parts)


def _level(img: np.ndarray, mask: np.ndarray, step: int, spacing_mm: tuple[float, ...]
           ) -> tuple[np.ndarray, np.ndarray, float]:
    """Image and mask subsampled by ``step``, with the Gaussian (mm) applied before."""
    if step == 1:
        return img, mask, 0.0
    pre_mm = 0.5 * step * min(spacing_mm)
    smooth = ndimage.gaussian_filter(img, [pre_mm / s for s in spacing_mm], mode="nearest")
    return (smooth[::step, ::step, ::step], mask[::step, ::step, ::step], pre_mm)


def _peaks(smooth: np.ndarray, mask: np.ndarray, spacing_mm: tuple[float, ...], sigma_mm: float,
           radius_mm: float, step: int, min_response: float) -> Blobs:
    response = _second_derivative(smooth, 0, spacing_mm[0])
    response += _second_derivative(smooth, 1, spacing_mm[1])
    response += _second_derivative(smooth, 2, spacing_mm[2])
    response *= np.float32(-(sigma_mm**2))
    peak = (response == ndimage.maximum_filter(response, size=3, mode="nearest"))
    peak &= mask & (response >= min_response)
    idx = np.argwhere(peak)
    if len(idx) == 0:
        return Blobs.empty()
    # keep peaks off the outer voxel layer so the central differences below stay inside
    inner = np.all((idx >= 1) & (idx <= np.asarray(smooth.shape) - 2), axis=1)
    idx = idx[inner]
    if len(idx) == 0:
        return Blobs.empty()
    h = hessian_at(smooth, idx, spacing_mm)
    eig = np.linalg.eigvalsh(h)  # ascending: most negative first for a bright blob
    strongest, weakest = eig[:, 0], eig[:, 2]
    ratio = np.where(strongest < 0, weakest / np.where(strongest < 0, strongest, -1.0), -1.0)
    z, y, x = idx.T
    return Blobs(voxel=idx.astype(np.float64) * step, radius_mm=np.full(len(idx), radius_mm),
                 response=response[z, y, x].astype(np.float64), blob_ratio=ratio,
                 center_hu=smooth[z, y, x].astype(np.float64))


def _second_derivative(a: np.ndarray, axis: int, h: float) -> np.ndarray:
    """Central second difference along ``axis`` (edge values repeated), per mm^2."""
    out = ndimage.correlate1d(a, np.array([1.0, -2.0, 1.0], dtype=np.float32), axis=axis,
                              mode="nearest")
    out *= np.float32(1.0 / (h * h))
    return out


def hessian_at(a: np.ndarray, idx: np.ndarray, spacing_mm: tuple[float, ...]) -> np.ndarray:
    """``(N, 3, 3)`` Hessian (per mm^2) of ``a`` at integer voxels ``idx`` (not on the edge)."""
    idx = np.asarray(idx, dtype=np.intp)
    h = np.zeros((len(idx), 3, 3))

    def at(offset: tuple[int, ...]) -> np.ndarray:
        p = idx + np.asarray(offset)
        return a[p[:, 0], p[:, 1], p[:, 2]].astype(np.float64)

    c = at((0, 0, 0))
    for i in range(3):
        e = [0, 0, 0]
        e[i] = 1
        h[:, i, i] = (at(tuple(e)) + at(tuple(-v for v in e)) - 2 * c) / spacing_mm[i] ** 2
        for j in range(i + 1, 3):
            f = [0, 0, 0]
            f[j] = 1
            pp = at(tuple(np.add(e, f)))
            mm = at(tuple(-np.add(e, f)))
            pm = at(tuple(np.subtract(e, f)))
            mp = at(tuple(-np.subtract(e, f)))
            h[:, i, j] = h[:, j, i] = (pp + mm - pm - mp) / (4 * spacing_mm[i] * spacing_mm[j])
    return h
