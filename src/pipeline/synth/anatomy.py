"""A chest described by analytic shapes in world millimetres (DICOM patient frame, LPS).

``sample_anatomy`` draws one patient's body, lungs, airways, spine, ribs, branching vessels and
nodules from a seeded generator; ``lung_mask`` and the tube/nodule shapes are evaluated by
``pipeline.synth.render`` on any voxel grid, so the same patient can be scanned at any spacing.
``sample_candidates`` draws LUNA16-style detections: every nodule, hard negatives (vessels,
vessel junctions, pleura) and easy ones (parenchyma).

Axes: +x patient left, +y posterior, +z head. All lengths in mm, densities in HU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

NODULE_TEXTURES = {"solid": 0.6, "part_solid": 0.2, "ground_glass": 0.2}
NODULE_LOCATIONS = {"parenchymal": 0.5, "juxtapleural": 0.25, "juxtavascular": 0.25}
LOBULATED_PROBABILITY = 0.4
HARD_NEGATIVE_KINDS = {"vessel": 0.5, "junction": 0.25, "pleura": 0.25}
PLACEMENT_STEP_MM = 2.0
TEXTURE_STEP_MM = 6.0


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


@dataclass(frozen=True)
class Anatomy:
    """One synthetic chest. See the module docstring for axes and units."""

    center_x_mm: float
    center_y_mm: float
    body_a_mm: float  # half width (x) of the body ellipse
    body_b_mm: float  # half depth (y)
    fat_mm: float  # subcutaneous fat thickness
    cavity_a_mm: float  # thoracic cavity half width, inside ribs and muscle
    cavity_b_mm: float
    mediastinum_half_mm: float
    lung_a_mm: float  # each lung's axial half width before cropping by the cavity
    lung_b_mm: float
    lung_center_y_mm: float
    diaphragm_z_mm: float  # lowest lung level (edge of the domes)
    dome_height_mm: float
    apex_start_z_mm: float  # lungs taper above this level
    lung_top_z_mm: float
    heart_center_mm: tuple[float, float, float]
    heart_axes_mm: tuple[float, float, float]
    spine_xy_mm: tuple[float, float]
    spine_radius_mm: float
    disc_phase_mm: float
    disc_period_mm: float
    aorta_xy_mm: tuple[float, float]
    aorta_radius_mm: float
    supine: bool
    lung_hu: float
    vessel_hu: float
    fat_hu: float
    muscle_hu: float
    airways: Tubes
    ribs: Tubes
    vessels: Tubes
    junctions_mm: np.ndarray  # (M, 3) vessel branch points
    texture: np.ndarray  # coarse (z, y, x) field, unit variance
    texture_origin_mm: tuple[float, float, float]  # world (x, y, z) of texture[0, 0, 0]
    nodules: tuple[Nodule, ...] = ()
    small_findings: tuple[Nodule, ...] = ()  # sub-3 mm: annotations_excluded.csv, not nodules

    def lung_x_mm(self, side: int) -> float:
        """Centre x of the right (side=-1) or left (side=+1) lung."""
        return self.center_x_mm + side * (self.mediastinum_half_mm + self.lung_a_mm)


def dome_z_mm(an: Anatomy, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the diaphragm dome under (x, y); the right dome is 15 mm higher."""
    right = x < an.center_x_mm
    out = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)), dtype=np.float32)
    for side, offset in ((-1, 15.0), (1, 0.0)):
        r2 = ((x - an.lung_x_mm(side)) / an.lung_a_mm) ** 2 + \
            ((y - an.lung_center_y_mm) / an.lung_b_mm) ** 2
        dome = an.diaphragm_z_mm + offset + an.dome_height_mm * np.clip(1 - r2, 0, 1)
        out = np.where(right if side < 0 else ~right, dome, out)
    return out


def lung_mask(an: Anatomy, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """True inside the lungs, for world coordinates that broadcast together (grid or points)."""
    cx, cy = an.center_x_mm, an.center_y_mm
    in_cavity = ((x - cx) / an.cavity_a_mm) ** 2 + ((y - cy) / an.cavity_b_mm) ** 2 < 1
    t = np.clip((z - an.apex_start_z_mm) / (an.lung_top_z_mm - an.apex_start_z_mm), 0, 1)
    scale2 = 1 - t**2
    mask = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z)), dtype=bool)
    for side in (-1, 1):
        r2 = ((x - an.lung_x_mm(side)) / an.lung_a_mm) ** 2 + \
            ((y - an.lung_center_y_mm) / an.lung_b_mm) ** 2
        mask |= r2 < scale2
    mask &= z > dome_z_mm(an, x, y)
    mask &= in_cavity
    hx, hy, hz = an.heart_center_mm
    ha, hb, hc = an.heart_axes_mm
    mask &= ((x - hx) / ha) ** 2 + ((y - hy) / hb) ** 2 + ((z - hz) / hc) ** 2 > 1
    sx, sy = an.spine_xy_mm
    mask &= (x - sx) ** 2 + (y - sy) ** 2 > (an.spine_radius_mm + 12) ** 2
    ax, ay = an.aorta_xy_mm
    mask &= (x - ax) ** 2 + (y - ay) ** 2 > (an.aorta_radius_mm + 4) ** 2
    return mask


def vec3(values: object) -> tuple[float, float, float]:
    """Three plain floats (a world point in mm) from any length-3 sequence or array."""
    x, y, z = (float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    return x, y, z


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _perpendicular(rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    w = rng.standard_normal(3)
    return _unit(w - (w @ d) * d)


def _grow_vessels(an: Anatomy, rng: np.random.Generator, max_segments: int = 1400
                  ) -> tuple[Tubes, np.ndarray]:
    """Grow pulmonary vessel trees from each hilum: tapering segments that fork in two."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    r0s: list[float] = []
    r1s: list[float] = []
    junctions: list[np.ndarray] = []
    hilum_z = an.apex_start_z_mm - 0.35 * (an.apex_start_z_mm - an.diaphragm_z_mm)
    for side in (-1, 1):
        stack = []
        for dz, dirs in ((35.0, ((0.3, -0.2, 1.0), (0.5, 0.6, 0.8), (1.0, -0.3, 0.5))),
                         (0.0, ((1.0, -0.6, 0.0), (1.0, 0.5, 0.1), (0.6, -0.8, -0.3))),
                         (-40.0, ((0.5, 0.5, -1.0), (0.6, -0.5, -0.8), (1.0, 0.1, -0.5)))):
            hilum = np.array([an.center_x_mm + side * (an.mediastinum_half_mm
                                                       + 0.3 * an.lung_a_mm),
                              an.lung_center_y_mm, hilum_z + dz])
            stack += [(hilum, _unit(np.array([side * a, b, c])), float(rng.uniform(3.5, 5.0)), 0)
                      for a, b, c in dirs]
        n_side = 0
        while stack and n_side < max_segments // 2:
            p, d, r, gen = stack.pop()
            length = min(r * float(rng.uniform(8.0, 12.0)), 35.0)
            inward = _unit(np.array([an.lung_x_mm(side), an.lung_center_y_mm,
                                     hilum_z - 20.0]) - p)
            for pull, shorten in ((0.0, 1.0), (0.0, 0.5), (0.7, 0.7), (1.5, 0.5)):
                d = _unit(d + pull * inward)
                end = p + d * length * shorten
                if lung_mask(an, *end):
                    break
            else:
                continue
            r_end = r * 0.9
            starts.append(p)
            ends.append(end)
            r0s.append(r)
            r1s.append(r_end)
            n_side += 1
            if r_end * 0.75 < 0.45 or gen >= 11:
                continue
            junctions.append(end)
            w = _perpendicular(rng, d)
            for sign, shrink in ((1, rng.uniform(0.7, 0.85)), (-1, rng.uniform(0.6, 0.8))):
                theta = np.deg2rad(rng.uniform(20, 45))
                child = _unit(np.cos(theta) * d + sign * np.sin(theta) * w
                              + rng.normal(0, 0.08, 3))
                stack.append((end, child, r_end * float(shrink), gen + 1))
    return Tubes.from_lists(starts, ends, r0s, r1s), np.asarray(junctions).reshape(-1, 3)


def _airways(cx: float, cy: float, med: float, lung_y: float, carina_z: float, top_z: float
             ) -> Tubes:
    """Trachea down to the carina, main bronchi to each hilum, two lobar bronchi per side."""
    ty = cy - 0.15 * (lung_y - cy + 60)
    starts = [(cx, ty, top_z)]
    ends = [(cx, ty, carina_z)]
    r0, r1 = [9.0], [8.5]
    for side in (-1, 1):
        hilum = (cx + side * (med + 12), lung_y - 5, carina_z - 22)
        starts.append((cx, ty, carina_z))
        ends.append(hilum)
        r0 += [6.5]
        r1 += [5.5]
        for dx, dy, dz in ((14, -6, 28), (16, 6, -32)):
            starts.append(hilum)
            ends.append((hilum[0] + side * dx, hilum[1] + dy, hilum[2] + dz))
            r0 += [4.0]
            r1 += [2.8]
    return Tubes.from_lists(starts, ends, r0, r1)


def _ribs(cx: float, cy: float, a: float, b: float, z_top: float, z_bottom: float,
          rng: np.random.Generator) -> Tubes:
    """Pairs of ribs from beside the spine round the chest wall (an ellipse outside the thoracic
    cavity, so they never cross a lung), sloping down towards the front."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    radii: list[float] = []
    period = float(rng.uniform(24, 30))
    drop = float(rng.uniform(35, 55))
    z = z_top - float(rng.uniform(0, period))
    phis = np.deg2rad(np.linspace(12, 145, 15))
    while z > z_bottom - drop:
        for side in (-1, 1):
            px = cx + side * a * np.sin(phis)
            py = cy + b * np.cos(phis)
            pz = z - drop * (phis - phis[0]) / (phis[-1] - phis[0])
            pts = np.stack([px, py, pz], axis=1)
            starts.extend(pts[:-1])
            ends.extend(pts[1:])
            radii.extend([4.5] * (len(pts) - 1))
        z -= period
    return Tubes.from_lists(starts, ends, radii, radii)


def sample_anatomy(rng: np.random.Generator, body_center_mm: tuple[float, float],
                   max_body_half_width_mm: float, lung_mid_z_mm: float, supine: bool
                   ) -> Anatomy:
    """Draw one chest (without nodules) centred at ``body_center_mm`` (x, y).

    ``max_body_half_width_mm`` keeps the body inside the scanner's field of view.
    """
    cx, cy = body_center_mm
    a = min(float(rng.uniform(130, 160)), max_body_half_width_mm)
    b = a * float(rng.uniform(0.66, 0.78))
    fat = float(rng.uniform(6, 20)) * a / 150
    ai, bi = a - fat - 14, b - fat - 14
    med = float(rng.uniform(22, 32))
    lung_a = (ai - med) / 2 * 1.08
    lung_b = bi * 0.95
    lung_y = cy + 0.05 * bi
    height = float(rng.uniform(210, 250))
    base = lung_mid_z_mm - height / 2
    top = lung_mid_z_mm + height / 2
    apex_start = top - 0.3 * height
    spine_r = float(rng.uniform(15, 19))
    spine = (cx, cy + b - fat - 62)
    carina_z = apex_start - 0.1 * height
    heart_axes = (0.42 * ai, 0.42 * bi, 0.25 * height)
    heart = (cx + 0.15 * ai, cy - 0.3 * bi, base + 0.18 * height)
    texture_shape = tuple(int(np.ceil(s / TEXTURE_STEP_MM)) + 2
                          for s in (top - base + 200, 2 * b, 2 * a))
    texture = ndimage.gaussian_filter(rng.standard_normal(texture_shape), 1.0, mode="wrap")
    texture = (texture / texture.std()).astype(np.float32)
    frame = Anatomy(
        center_x_mm=cx, center_y_mm=cy, body_a_mm=a, body_b_mm=b, fat_mm=fat,
        cavity_a_mm=ai, cavity_b_mm=bi, mediastinum_half_mm=med, lung_a_mm=lung_a,
        lung_b_mm=lung_b, lung_center_y_mm=lung_y, diaphragm_z_mm=base,
        dome_height_mm=float(rng.uniform(25, 45)), apex_start_z_mm=apex_start,
        lung_top_z_mm=top, heart_center_mm=heart, heart_axes_mm=heart_axes,
        spine_xy_mm=spine, spine_radius_mm=spine_r, disc_phase_mm=float(rng.uniform(0, 28)),
        disc_period_mm=float(rng.uniform(25, 30)),
        aorta_xy_mm=(cx + spine_r + 8, spine[1] - spine_r - 4), aorta_radius_mm=11.0,
        supine=supine, lung_hu=float(rng.uniform(-875, -840)),
        vessel_hu=float(rng.uniform(20, 60)), fat_hu=float(rng.uniform(-110, -85)),
        muscle_hu=float(rng.uniform(35, 50)),
        airways=_airways(cx, cy, med, lung_y, carina_z, top + 120),
        ribs=_ribs(cx, cy, ai + 7, bi + 7, top + 20, base - 60, rng),
        vessels=Tubes.from_lists([], [], [], []), junctions_mm=np.zeros((0, 3)),
        texture=texture, texture_origin_mm=(cx - a - TEXTURE_STEP_MM, cy - b - TEXTURE_STEP_MM,
                                            base - 100 - TEXTURE_STEP_MM),
    )
    vessels, junctions = _grow_vessels(frame, rng)
    return dataclasses.replace(frame, vessels=vessels, junctions_mm=junctions)


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
            lobes = {"lobe_axes": tuple(tuple(float(v) for v in _unit(rng.standard_normal(3)))
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
        d = _unit(v.end_mm[i] - v.start_mm[i])
        c = axis_pt + _perpendicular(rng, d) * (v.radius(i, t) + 0.75 * r)
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
