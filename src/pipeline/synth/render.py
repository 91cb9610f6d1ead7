"""Evaluate an ``Anatomy`` on a voxel grid and add what a scanner adds: kernel blur and noise.

The grid here is axis-aligned with increasing world coordinates on every axis (x, y, z); the
cohort writer flips it into whatever orientation a series is written in. Volumes are produced in
chunks of slices so a 512x512x500 chest never sits in memory as float32 all at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.hu import AIR_HU
from pipeline.imaging.geometry import Geometry
from pipeline.synth.chest import TEXTURE_STEP_MM, Anatomy, dome_z_mm, lung_mask
from pipeline.synth.shapes import Tubes

BONE_CORTEX_HU = 750.0
BONE_MARROW_HU = 260.0
DISC_HU = 80.0
LIVER_HU = 55.0
TABLE_HU = 120.0
AIRWAY_WALL_HU = -50.0
NOISE_CORRELATION_PX = 0.7
CHUNK_VOXELS = 4_000_000


@dataclass(frozen=True)
class Grid:
    """Voxel centres ``origin_mm + spacing_mm * index`` on each world axis (x, y, z), size in
    voxels (nx, ny, nz). NumPy arrays on this grid are ``(z, y, x)``."""

    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    size: tuple[int, int, int]

    def axis_mm(self, axis: int) -> np.ndarray:
        """World coordinates (mm) of the voxel centres along world axis 0 (x), 1 (y) or 2 (z)."""
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(self.size[axis])

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.origin_mm, self.spacing_mm)


def _tube_fraction(out: np.ndarray, tubes: Tubes, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                   edge_mm: float, grow_mm: float = 0.0) -> None:
    """Max-accumulate each tube's soft occupancy (0..1, a ramp ``edge_mm`` wide) into ``out``."""
    for a, b, r0, r1 in zip(tubes.start_mm, tubes.end_mm, tubes.radius_start_mm,
                            tubes.radius_end_mm, strict=True):
        reach = max(r0, r1) + grow_mm + edge_mm
        if reach <= 0:
            continue
        lo, hi = np.minimum(a, b) - reach, np.maximum(a, b) + reach
        box = [slice(int(np.searchsorted(c, lo[k])), int(np.searchsorted(c, hi[k], "right")))
               for k, c in ((2, z), (1, y), (0, x))]
        if any(s.stop <= s.start for s in box):
            continue
        px = (x[box[2]] - a[0])[None, None, :]
        py = (y[box[1]] - a[1])[None, :, None]
        pz = (z[box[0]] - a[2])[:, None, None]
        d = b - a
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / max(float(d @ d), 1e-12), 0, 1)
        dist = np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2)
        frac = np.clip((r0 + (r1 - r0) * t + grow_mm - dist) / edge_mm + 0.5, 0, 1)
        view = out[box[0], box[1], box[2]]
        np.maximum(view, frac.astype(out.dtype), out=view)


def _texture(an: Anatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Trilinear sample of the coarse lung texture field at the grid's world coordinates."""
    out = an.texture
    for axis, coords in ((0, z), (1, y), (2, x)):
        n = out.shape[axis]
        u = np.clip((coords - an.texture_origin_mm[2 - axis]) / TEXTURE_STEP_MM, 0, n - 1.001)
        i0 = np.floor(u).astype(int)
        shape = [1, 1, 1]
        shape[axis] = len(coords)
        w = (u - i0).astype(np.float32).reshape(shape)
        out = np.take(out, i0, axis=axis) * (1 - w) + np.take(out, i0 + 1, axis=axis) * w
    return out


def _slice_2d(an: Anatomy, x2: np.ndarray, y2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The z-invariant part of an axial slice (body, fat, table, spine); and the vertebral body."""
    cx, cy = an.center_x_mm, an.center_y_mm
    a, b, fat = an.body_a_mm, an.body_b_mm, an.fat_mm
    out = np.full(np.broadcast_shapes(x2.shape, y2.shape), AIR_HU, dtype=np.float32)
    out[((x2 - cx) / a) ** 2 + ((y2 - cy) / b) ** 2 < 1] = an.fat_hu
    out[((x2 - cx) / (a - fat)) ** 2 + ((y2 - cy) / (b - fat)) ** 2 < 1] = an.muscle_hu
    table_y = cy + b + 6 if an.supine else cy - b - 14
    out[(y2 >= table_y) & (y2 <= table_y + 8) & (np.abs(x2 - cx) < 0.9 * a)] = TABLE_HU
    sx, sy = an.spine_xy_mm
    r = an.spine_radius_mm
    rs = np.hypot(x2 - sx, y2 - sy)
    vertebra = rs < r
    canal_y = sy + r + 9
    rc = np.hypot(x2 - sx, y2 - canal_y)
    cortex = (vertebra & (rs > r - 2.5)) | ((rc >= 7.5) & (rc < 12.5))
    cortex |= (np.abs(x2 - sx) < 4) & (y2 > canal_y + 7) & (y2 < canal_y + 33)
    cortex |= (np.abs(y2 - canal_y) < 4) & (np.abs(x2 - sx) > 10) & (np.abs(x2 - sx) < 32)
    out[vertebra] = BONE_MARROW_HU
    out[cortex] = BONE_CORTEX_HU
    out[rc < 7.5] = 25.0
    return out, vertebra & (rs <= r - 2.5)


def render_anatomy(an: Anatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray, edge_mm: float
                   ) -> np.ndarray:
    """Noise-free HU ``(z, y, x)`` of ``an`` at the voxel centres ``x, y, z`` (increasing, mm)."""
    x2, y2 = x[None, :], y[:, None]
    base, marrow = _slice_2d(an, x2, y2)
    hu = np.repeat(base[None], len(z), axis=0)
    z3 = z[:, None, None]
    disc = ((z - an.disc_phase_mm) % an.disc_period_mm) < 5.0
    hu[disc[:, None, None] & marrow[None]] = DISC_HU
    in_cavity = ((x2 - an.center_x_mm) / an.cavity_a_mm) ** 2 + \
        ((y2 - an.center_y_mm) / an.cavity_b_mm) ** 2 < 1
    sx, sy = an.spine_xy_mm
    liver = in_cavity & (np.hypot(x2 - sx, y2 - sy) > an.spine_radius_mm + 12)
    hu[liver[None] & (z3 < dome_z_mm(an, x2, y2)[None])] = LIVER_HU
    lung = lung_mask(an, x[None, None, :], y[None, :, None], z3)
    gravity = np.clip((y2 - an.lung_center_y_mm) / an.lung_b_mm, -1, 1) * (45 if an.supine else -45)
    lung_hu = an.lung_hu + 25.0 * _texture(an, x, y, z) + gravity[None].astype(np.float32)
    hu = np.where(lung, lung_hu, hu)
    frac = np.zeros_like(hu)
    _tube_fraction(frac, an.vessels, x, y, z, edge_mm)
    hu = np.where(lung, hu + frac * (an.vessel_hu - hu), hu)
    frac[:] = 0
    _tube_fraction(frac, an.airways, x, y, z, edge_mm, grow_mm=1.5)
    hu = np.where(lung, hu + frac * (AIRWAY_WALL_HU - hu), hu)
    frac[:] = 0
    _tube_fraction(frac, an.airways, x, y, z, edge_mm)
    hu += frac * (AIR_HU - hu)
    for nodule in (*an.nodules, *an.small_findings):
        _draw_nodule(hu, lung, nodule, x, y, z, edge_mm)
    frac[:] = 0
    _tube_fraction(frac, an.ribs, x, y, z, edge_mm)
    hu += frac * (BONE_CORTEX_HU - hu)
    frac[:] = 0
    _tube_fraction(frac, an.ribs, x, y, z, edge_mm, grow_mm=-1.8)
    hu += frac * (BONE_MARROW_HU - hu)
    return hu


def _draw_nodule(hu: np.ndarray, lung: np.ndarray, nodule: object, x: np.ndarray, y: np.ndarray,
                 z: np.ndarray, edge_mm: float) -> None:
    """Blend one nodule into ``hu`` inside the lung (a brighter value wins, so vessels show
    through ground glass and a juxtapleural nodule merges with the chest wall)."""
    c = np.asarray(nodule.center_mm)  # type: ignore[attr-defined]
    reach = nodule.max_radius_mm + edge_mm  # type: ignore[attr-defined]
    box = [slice(int(np.searchsorted(ax, c[k] - reach)),
                 int(np.searchsorted(ax, c[k] + reach, "right")))
           for k, ax in ((2, z), (1, y), (0, x))]
    if any(s.stop <= s.start for s in box):
        return
    rel = np.stack(np.broadcast_arrays(
        (x[box[2]] - c[0])[None, None, :], (y[box[1]] - c[1])[None, :, None],
        (z[box[0]] - c[2])[:, None, None]), axis=-1).astype(np.float32)
    dist = np.linalg.norm(rel, axis=-1)
    radius = nodule.radius_mm(rel / np.maximum(dist, 1e-6)[..., None])  # type: ignore[attr-defined]
    frac = np.clip((radius - dist) / edge_mm + 0.5, 0, 1)
    value = np.full_like(dist, nodule.hu)  # type: ignore[attr-defined]
    if nodule.core_fraction > 0:  # type: ignore[attr-defined]
        core = np.clip((nodule.core_fraction * radius - dist) / edge_mm + 0.5, 0, 1)  # type: ignore[attr-defined]
        value += core * (nodule.core_hu - value)  # type: ignore[attr-defined]
    view = hu[box[0], box[1], box[2]]
    blended = np.maximum(view, view + frac * (value - view))
    view[...] = np.where(lung[box[0], box[1], box[2]], blended, view)


def _noise_std(sigma_px: float) -> float:
    """Standard deviation of unit white noise after a 2D Gaussian filter of ``sigma_px``."""
    r = int(4 * sigma_px + 0.5)
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_px) ** 2)
    w /= w.sum()
    return float((w**2).sum())


def render_chunks(an: Anatomy, grid: Grid, kernel_fwhm_mm: float, noise_sigma_hu: float,
                  rng: np.random.Generator, chunk_voxels: int = CHUNK_VOXELS
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_z_index, hu_block)`` blocks of the scanned volume, in z order.

    Blur: a Gaussian whose in-plane FWHM is the reconstruction kernel's and whose z FWHM is the
    slice thickness (= slice spacing here), in voxel units. Anatomy outside the scanned range is
    rendered as a halo so the blur never sees an artificial edge. Noise: Gaussian, correlated
    in-plane like filtered back-projection noise, of standard deviation ``noise_sigma_hu``.
    """
    x, y = grid.axis_mm(0), grid.axis_mm(1)
    sx, sy, sz = grid.spacing_mm
    nx, ny, nz = grid.size
    sigma = (sz / 2.355 / sz, kernel_fwhm_mm / 2.355 / sy, kernel_fwhm_mm / 2.355 / sx)
    halo = int(4 * sigma[0] + 0.5) + 1
    step = max(1, chunk_voxels // (nx * ny))
    noise_scale = noise_sigma_hu / _noise_std(NOISE_CORRELATION_PX)
    for z0 in range(0, nz, step):
        z1 = min(nz, z0 + step)
        z = grid.origin_mm[2] + sz * np.arange(z0 - halo, z1 + halo)
        hu = render_anatomy(an, x, y, z, edge_mm=min(sx, sy))
        hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")[halo:halo + z1 - z0]
        noise = rng.standard_normal(hu.shape, dtype=np.float32)
        noise = ndimage.gaussian_filter(noise, (0, NOISE_CORRELATION_PX, NOISE_CORRELATION_PX),
                                        mode="wrap")
        hu += noise * np.float32(noise_scale)
        yield z0, hu
