"""A chest described by analytic shapes in world millimetres (DICOM patient frame, LPS).

``sample_anatomy`` draws one patient's body, lungs, airways, spine, ribs and branching vessels
from a seeded generator; ``lung_mask`` and the shapes (``pipeline.synth.shapes``) are evaluated
by ``pipeline.synth.render`` on any voxel grid, so the same patient can be scanned at any
spacing. Nodules and candidates are placed in it by ``pipeline.synth.placement``.

Axes: +x patient left, +y posterior, +z head. All lengths in mm, densities in HU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.synth.shapes import Nodule, Tubes, perpendicular, unit

TEXTURE_STEP_MM = 6.0


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
            stack += [(hilum, unit(np.array([side * a, b, c])), float(rng.uniform(3.5, 5.0)), 0)
                      for a, b, c in dirs]
        n_side = 0
        while stack and n_side < max_segments // 2:
            p, d, r, gen = stack.pop()
            length = min(r * float(rng.uniform(8.0, 12.0)), 35.0)
            inward = unit(np.array([an.lung_x_mm(side), an.lung_center_y_mm,
                                     hilum_z - 20.0]) - p)
            for pull, shorten in ((0.0, 1.0), (0.0, 0.5), (0.7, 0.7), (1.5, 0.5)):
                d = unit(d + pull * inward)
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
            w = perpendicular(rng, d)
            for sign, shrink in ((1, rng.uniform(0.7, 0.85)), (-1, rng.uniform(0.6, 0.8))):
                theta = np.deg2rad(rng.uniform(20, 45))
                child = unit(np.cos(theta) * d + sign * np.sin(theta) * w
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
