"""Where things go in a synthetic chest: nodules, sub-3 mm findings and LUNA16-style candidates.

``sample_nodules`` places nodules by texture and location (parenchymal, juxtapleural,
juxtavascular) on a :class:`PlacementGrid` over the scanned lungs; ``sample_candidates`` draws
detections: every nodule, hard negatives (vessels, vessel junctions, pleura) and easy ones
(parenchyma).

Axes: +x patient left, +y posterior, +z head. All lengths in mm, densities in HU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.synth.chest import Anatomy, lung_mask
from pipeline.synth.shapes import Candidate, Nodule, perpendicular, unit, vec3

NODULE_TEXTURES = {"solid": 0.6, "part_solid": 0.2, "ground_glass": 0.2}
NODULE_LOCATIONS = {"parenchymal": 0.5, "juxtapleural": 0.25, "juxtavascular": 0.25}
LOBULATED_PROBABILITY = 0.4
HARD_NEGATIVE_KINDS = {"vessel": 0.5, "junction": 0.25, "pleura": 0.25}
PLACEMENT_STEP_MM = 2.0


@dataclass(frozen=True)
class PlacementGrid:
    """A coarse grid over the scanned lungs with the distance to the pleura, to place things."""

    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    depth_mm: np.ndarray  # (z, y, x) distance inside the lung to its boundary, 0 outside

    def points(self, selector: np.ndarray) -> np.ndarray:
        """World points (N, 3) of the grid voxels where ``selector`` is true, in index order."""
        kz, ky, kx = np.nonzero(selector)
        return np.stack([self.x_mm[kx], self.y_mm[ky], self.z_mm[kz]], axis=1)

    def depth_at(self, points_mm: np.ndarray) -> np.ndarray:
        """Nearest-grid-voxel pleural depth at world points (N, 3); 0 outside the grid."""
        p = np.atleast_2d(points_mm)
        idx = []
        for axis, coords in ((2, self.z_mm), (1, self.y_mm), (0, self.x_mm)):
            i = np.rint((p[:, axis] - coords[0]) / PLACEMENT_STEP_MM).astype(int)
            idx.append(i)
        ok = np.all([(i >= 0) & (i < n) for i, n in zip(idx, self.depth_mm.shape, strict=True)],
                    axis=0)
        out = np.zeros(len(p))
        out[ok] = self.depth_mm[idx[0][ok], idx[1][ok], idx[2][ok]]
        return out


def placement_grid(an: Anatomy, z_range_mm: tuple[float, float]) -> PlacementGrid:
    """Lung depth map on a 2 mm grid over the scanned z range (lung boundary distance in mm)."""
    step = PLACEMENT_STEP_MM
    x = np.arange(an.center_x_mm - an.cavity_a_mm, an.center_x_mm + an.cavity_a_mm + step, step)
    y = np.arange(an.center_y_mm - an.cavity_b_mm, an.center_y_mm + an.cavity_b_mm + step, step)
    z = np.arange(z_range_mm[0], z_range_mm[1] + step, step)
    mask = lung_mask(an, x[None, None, :], y[None, :, None], z[:, None, None])
    depth = ndimage.distance_transform_edt(mask, sampling=step) if mask.any() else \
        np.zeros(mask.shape)
    return PlacementGrid(x, y, z, depth)


def _pick(rng: np.random.Generator, points: np.ndarray) -> np.ndarray | None:
    return None if len(points) == 0 else points[int(rng.integers(len(points)))]


def _far_from(point: np.ndarray, nodules: list[Nodule], margin_mm: float) -> bool:
    return all(np.linalg.norm(point - np.asarray(n.center_mm)) > n.max_radius_mm + margin_mm
               for n in nodules)


def sample_nodules(an: Anatomy, grid: PlacementGrid, rng: np.random.Generator, count: int,
                   diameter_range_mm: tuple[float, float]) -> list[Nodule]:
    """Place ``count`` nodules: solid/part-solid/ground-glass, spherical/lobulated, in the
    parenchyma, against the pleura or against a vessel. Nodules are shrunk to fit the lungs."""
    nodules: list[Nodule] = []
    z_lo, z_hi = float(grid.z_mm[0]), float(grid.z_mm[-1])
    for _ in range(count):
        d = float(np.exp(rng.uniform(*np.log(diameter_range_mm))))
        texture = str(rng.choice(list(NODULE_TEXTURES), p=list(NODULE_TEXTURES.values())))
        location = str(rng.choice(list(NODULE_LOCATIONS), p=list(NODULE_LOCATIONS.values())))
        lobulated = rng.random() < LOBULATED_PROBABILITY
        max_r = max(float(grid.depth_mm.max()) - 2.0, diameter_range_mm[0] / 2)
        r = min(d / 2, max_r, (z_hi - z_lo) / 2 - 3)
        r = max(r, 1.0)
        zs = grid.z_mm[:, None, None]
        in_z = (zs >= z_lo + r + 2) & (zs <= z_hi - r - 2)
        center = None
        if location == "juxtavascular":
            center = _juxtavascular_center(an, grid, rng, r, nodules)
        elif location == "juxtapleural":
            sel = in_z & (grid.depth_mm >= max(0.5 * r, 2.0)) & \
                (grid.depth_mm <= max(0.85 * r, 2.9))
            center = _pick_free(rng, grid.points(sel), nodules, r)
        if center is None:
            location = "parenchymal"
            center = _pick_free(rng, grid.points(in_z & (grid.depth_mm > r + 2)), nodules, r)
        if center is None:
            continue
        hu = {"solid": rng.uniform(-40, 80), "part_solid": rng.uniform(-650, -400),
              "ground_glass": rng.uniform(-700, -300)}[texture]
        lobes: dict[str, tuple] = {}
        if lobulated:
            k = 3
            lobes = {"lobe_axes": tuple(tuple(float(v) for v in unit(rng.standard_normal(3)))
                                        for _ in range(k)),
                     "lobe_amplitudes": tuple(float(v) for v in rng.uniform(0.06, 0.14, k)),
                     "lobe_orders": tuple(int(v) for v in rng.integers(2, 5, k))}
        nodules.append(Nodule(
            center_mm=vec3(center), diameter_mm=round(2 * r, 3),
            texture=texture, shape="lobulated" if lobulated else "spherical", location=location,
            hu=float(hu), core_hu=float(rng.uniform(-40, 60)) if texture == "part_solid" else 0.0,
            core_fraction=float(rng.uniform(0.35, 0.6)) if texture == "part_solid" else 0.0,
            **lobes))
    return nodules


def sample_small_findings(an: Anatomy, grid: PlacementGrid, rng: np.random.Generator,
                          count: int, diameter_range_mm: tuple[float, float],
                          keep_away_mm: np.ndarray) -> list[Nodule]:
    """Place ``count`` solid sub-3 mm findings in the parenchyma, like LUNA16's
    ``annotations_excluded.csv`` entries: rendered like tiny nodules but not nodules of the
    benchmark. They keep clear of the nodules and of the points ``keep_away_mm`` ``(N, 3)``
    (the existing candidates), so no other structure of the scan changes."""
    out: list[Nodule] = []
    z_lo, z_hi = float(grid.z_mm[0]), float(grid.z_mm[-1])
    zs = grid.z_mm[:, None, None]
    for _ in range(count):
        r = float(rng.uniform(*diameter_range_mm)) / 2
        ok = (zs >= z_lo + r + 3) & (zs <= z_hi - r - 3) & (grid.depth_mm > r + 3)
        center = _pick_free(rng, grid.points(ok), [*an.nodules, *out], r)
        if center is None or (len(keep_away_mm) and
                              np.linalg.norm(keep_away_mm - center, axis=1).min() < r + 4):
            continue
        out.append(Nodule(center_mm=vec3(center), diameter_mm=round(2 * r, 3), texture="solid",
                          shape="spherical", location="parenchymal",
                          hu=float(rng.uniform(-40, 80)), core_hu=0.0, core_fraction=0.0))
    return out


def _pick_free(rng: np.random.Generator, points: np.ndarray, nodules: list[Nodule], r: float
               ) -> np.ndarray | None:
    for _ in range(30):
        p = _pick(rng, points)
        if p is None:
            return None
        if all(np.linalg.norm(p - np.asarray(n.center_mm)) > n.max_radius_mm + r + 4
               for n in nodules):
            return p + rng.uniform(-0.5, 0.5, 3)
    return None


def _juxtavascular_center(an: Anatomy, grid: PlacementGrid, rng: np.random.Generator, r: float,
                          nodules: list[Nodule]) -> np.ndarray | None:
    v = an.vessels
    big = np.nonzero(v.radius_end_mm >= 1.2)[0]
    z_lo, z_hi = float(grid.z_mm[0]) + r + 2, float(grid.z_mm[-1]) - r - 2
    for _ in range(30):
        if len(big) == 0:
            return None
        i = int(big[rng.integers(len(big))])
        t = float(rng.uniform(0.2, 0.8))
        axis_pt = v.point(i, t)
        d = unit(v.end_mm[i] - v.start_mm[i])
        c = axis_pt + perpendicular(rng, d) * (v.radius(i, t) + 0.75 * r)
        if z_lo <= c[2] <= z_hi and grid.depth_at(c[None])[0] > r + 1 and \
                _far_from(c, nodules, r + 4):
            return c
    return None


def sample_candidates(an: Anatomy, grid: PlacementGrid, rng: np.random.Generator,
                      negatives_per_nodule: float, hard_fraction: float,
                      jitter_mm: float = 2.0) -> list[Candidate]:
    """LUNA16-style candidates: each nodule (jittered like a CAD detection, sometimes twice) and
    ``negatives_per_nodule`` times as many non-nodules, ``hard_fraction`` of them on vessels,
    vessel junctions or the pleura and the rest in plain parenchyma."""
    out: list[Candidate] = []
    for i, n in enumerate(an.nodules):
        for _ in range(2 if rng.random() < 0.3 else 1):
            shift = rng.standard_normal(3)
            shift *= min(jitter_mm, 0.3 * n.diameter_mm / 2) * rng.random() / np.linalg.norm(shift)
            out.append(Candidate(vec3(np.asarray(n.center_mm) + shift), 1,
                                 "nodule", i))
    n_neg = int(round(negatives_per_nodule * max(len(an.nodules), 1)))
    n_hard = int(round(hard_fraction * n_neg))
    kinds = list(rng.choice(list(HARD_NEGATIVE_KINDS), size=n_hard,
                            p=list(HARD_NEGATIVE_KINDS.values())))
    kinds += ["parenchyma"] * (n_neg - n_hard)
    z_lo, z_hi = float(grid.z_mm[0]) + 3, float(grid.z_mm[-1]) - 3
    pools = _negative_pools(an, grid, z_lo, z_hi)
    nodules = list(an.nodules)
    for kind in kinds:
        for _ in range(20):
            p, drawn = _draw_negative(an, rng, str(kind), pools, z_lo, z_hi)
            if p is not None and _far_from(p, nodules, 4.0):
                out.append(Candidate(vec3(p), 0, drawn))
                break
    return out


def _negative_pools(an: Anatomy, grid: PlacementGrid, z_lo: float, z_hi: float
                    ) -> dict[str, np.ndarray]:
    zs = grid.z_mm[:, None, None]
    in_z = (zs >= z_lo) & (zs <= z_hi)
    v = an.vessels
    mids = (v.start_mm + v.end_mm) / 2 if len(v) else np.zeros((0, 3))
    visible = (v.radius_end_mm >= 0.8) & (grid.depth_at(mids) > 0) & \
        (mids[:, 2] >= z_lo) & (mids[:, 2] <= z_hi) if len(v) else np.zeros(0, bool)
    j = an.junctions_mm
    jok = (grid.depth_at(j) > 0) & (j[:, 2] >= z_lo) & (j[:, 2] <= z_hi) if len(j) else \
        np.zeros(0, bool)
    return {"vessel": np.nonzero(visible)[0], "junction": j[jok],
            "pleura": grid.points(in_z & (grid.depth_mm > 0) & (grid.depth_mm <= 2.5)),
            "parenchyma": grid.points(in_z & (grid.depth_mm > 6))}


def _draw_negative(an: Anatomy, rng: np.random.Generator, kind: str,
                   pools: dict[str, np.ndarray], z_lo: float, z_hi: float
                   ) -> tuple[np.ndarray | None, str]:
    """One negative of ``kind``; falls back to parenchyma when that pool is empty."""
    if kind == "vessel" and len(pools["vessel"]):
        i = int(pools["vessel"][rng.integers(len(pools["vessel"]))])
        p = an.vessels.point(i, float(rng.uniform(0.2, 0.8)))
        return (p if z_lo <= p[2] <= z_hi else None), kind
    if kind in ("junction", "pleura") and len(pools[kind]):
        pool = pools[kind]
        return pool[int(rng.integers(len(pool)))] + rng.uniform(-0.5, 0.5, 3), kind
    picked = _pick(rng, pools["parenchyma"])
    if picked is None:
        return None, "parenchyma"
    p = picked + rng.uniform(-1, 1, 3)
    if an.vessels.surface_distance_mm(p[None])[0] < 3.0:
        return None, "parenchyma"
    return p, "parenchyma"
