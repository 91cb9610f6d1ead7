"""A tiny chest for the detection tests: body, two lungs, a vessel, nodules at known world points.

A uniquely named module (not conftest) so ``from detection_phantoms import ...`` is unambiguous.
"""

from __future__ import annotations

import numpy as np

from pipeline.detection.params import CandidateParams
from pipeline.imaging.geometry import Geometry

SPACING = (1.0, 1.0, 1.0)
SHAPE = (40, 96, 128)  # (z, y, x)
ORIGIN = (-64.0, -48.0, -20.0)
LUNG_HU, TISSUE_HU, AIR_HU = -850.0, 40.0, -1000.0
SOLID = (-30.0, 0.0, 0.0)  # parenchymal solid nodule, 8 mm
GGO = (32.0, 8.0, -2.0)  # ground glass, 10 mm, -600 HU
PLEURAL_X = -56.5  # lateral edge of the right lung at y = 0
JUXTAPLEURAL = (PLEURAL_X + 3.0, -4.0, 6.0)  # 8 mm, on the chest wall


def phantom_params(**changes: object) -> CandidateParams:
    """Generator params scaled to the phantom (radii 2-6 mm, few scales)."""
    values: dict[str, object] = dict(
        lung_threshold_hu=-400.0, lung_closing_mm=8.0, mask_spacing_mm=2.0, radius_mm=(2.0, 6.0),
        scales=4, hu_clip=(-1000.0, 100.0), solid_hu=-450.0, subsolid_hu=-800.0,
        min_response_hu=30.0, min_contrast_hu=80.0, min_blob_ratio=0.3, subsolid_weight=1.5,
        scale_exponent=1.0, nms_factor=1.0, max_candidates=20, jobs=1)
    values.update(changes)
    return CandidateParams(**values)  # type: ignore[arg-type]


def chest(nodules: bool = True, vessel: bool = True) -> tuple[np.ndarray, Geometry]:
    """``(z, y, x)`` HU volume and its geometry; world x, y, z in mm (LPS)."""
    geo = Geometry(ORIGIN, SPACING)
    idx = np.indices(SHAPE).reshape(3, -1).T.astype(np.float64)
    w = geo.voxel_to_world(idx).reshape(*SHAPE, 3)
    x, y, z = w[..., 0], w[..., 1], w[..., 2]
    hu = np.full(SHAPE, AIR_HU)
    hu[(x / 62) ** 2 + (y / 44) ** 2 < 1] = TISSUE_HU
    for cx in (-32.0, 32.0):
        hu[((x - cx) / 24.5) ** 2 + (y / 32) ** 2 < 1] = LUNG_HU
    if vessel:  # a 2 mm-radius vessel along y through the left lung
        hu[np.hypot(x - 32.0, z - 8.0) < 2.0] = TISSUE_HU
    if nodules:
        for c, r, v in ((SOLID, 4.0, TISSUE_HU), (GGO, 5.0, -600.0),
                        (JUXTAPLEURAL, 4.0, TISSUE_HU)):
            hu[np.linalg.norm(w - np.asarray(c), axis=-1) < r] = v
    return hu.astype(np.float32), geo
