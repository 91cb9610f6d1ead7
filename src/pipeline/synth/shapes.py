"""The analytic shapes a synthetic chest is built from, in world millimetres (LPS, HU).

:class:`Tubes` (tapered capsules: airways, ribs, vessels), :class:`Nodule` (spheres, lobulated
or not, solid to ground glass) and :class:`Candidate` (a LUNA16-style detection). They are
evaluated on any voxel grid by ``pipeline.synth.render``.

Axes: +x patient left, +y posterior, +z head. All lengths in mm, densities in HU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tubes:
    """Tapered cylinders (capsule segments): axis from ``start_mm`` to ``end_mm`` (N, 3)."""

    start_mm: np.ndarray
    end_mm: np.ndarray
    radius_start_mm: np.ndarray
    radius_end_mm: np.ndarray

    @classmethod
    def from_lists(cls, starts: list, ends: list, r0: list, r1: list) -> Tubes:
        return cls(np.asarray(starts, dtype=np.float64).reshape(-1, 3),
                   np.asarray(ends, dtype=np.float64).reshape(-1, 3),
                   np.asarray(r0, dtype=np.float64), np.asarray(r1, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.radius_start_mm)

    def point(self, index: int, t: float) -> np.ndarray:
        """World point at fraction ``t`` along the axis of tube ``index``."""
        return self.start_mm[index] + t * (self.end_mm[index] - self.start_mm[index])

    def radius(self, index: int, t: float) -> float:
        r0, r1 = self.radius_start_mm[index], self.radius_end_mm[index]
        return float(r0 + t * (r1 - r0))

    def surface_distance_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Signed distance (mm) from each point (M, 3) to the nearest tube surface (< 0 inside)."""
        p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        if len(self) == 0:
            return np.full(len(p), np.inf)
        d = self.end_mm - self.start_mm
        rel = p[:, None, :] - self.start_mm[None]
        t = np.clip(np.einsum("mnk,nk->mn", rel, d) / np.maximum((d * d).sum(1), 1e-12), 0, 1)
        dist = np.linalg.norm(rel - t[..., None] * d[None], axis=-1)
        r = self.radius_start_mm + t * (self.radius_end_mm - self.radius_start_mm)
        return (dist - r).min(axis=1)


@dataclass(frozen=True)
class Nodule:
    """A nodule: a sphere of ``diameter_mm`` whose radius may vary with direction (lobulated)."""

    center_mm: tuple[float, float, float]
    diameter_mm: float
    texture: str  # solid | part_solid | ground_glass
    shape: str  # spherical | lobulated
    location: str  # parenchymal | juxtapleural | juxtavascular
    hu: float
    core_hu: float
    core_fraction: float  # solid core radius / radius (part-solid only, else 0)
    lobe_axes: tuple[tuple[float, float, float], ...] = ()
    lobe_amplitudes: tuple[float, ...] = ()
    lobe_orders: tuple[int, ...] = ()

    @property
    def max_radius_mm(self) -> float:
        return self.diameter_mm / 2 * (1 + sum(self.lobe_amplitudes))

    def radius_mm(self, unit_dirs: np.ndarray) -> np.ndarray:
        """Surface radius along unit directions ``(..., 3)``: R (1 + sum a_k cos(n_k theta_k))."""
        r = np.full(unit_dirs.shape[:-1], self.diameter_mm / 2, dtype=np.float32)
        for axis, amp, order in zip(self.lobe_axes, self.lobe_amplitudes, self.lobe_orders,
                                    strict=True):
            cos_t = np.clip(unit_dirs @ np.asarray(axis, dtype=np.float32), -1, 1)
            r = r + self.diameter_mm / 2 * amp * np.cos(order * np.arccos(cos_t))
        return r


@dataclass(frozen=True)
class Candidate:
    """A detection as LUNA16 lists it, with the kind of structure it sits on."""

    center_mm: tuple[float, float, float]
    label: int  # 1 nodule, 0 not
    kind: str  # nodule | vessel | junction | pleura | parenchyma
    nodule_index: int = -1


def vec3(values: object) -> tuple[float, float, float]:
    """Three plain floats (a world point in mm) from any length-3 sequence or array."""
    x, y, z = (float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    return x, y, z


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def perpendicular(rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    w = rng.standard_normal(3)
    return unit(w - (w @ d) * d)
