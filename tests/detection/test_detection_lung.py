"""closed_lung_mask on the tiny chest: both lungs found, pleural nodules inside, whatever the
slices at the ends of the scan range hold."""

import numpy as np
import pytest
from detection_phantoms import AIR_HU, JUXTAPLEURAL, SOLID, chest, phantom_params

from pipeline.detection.candidates import generate_candidates
from pipeline.detection.lung import closed_lung_mask, outside_air_in_plane


def _mask(hu: np.ndarray) -> np.ndarray:
    p = phantom_params()
    return closed_lung_mask(hu, (1.0, 1.0, 1.0), p.lung_threshold_hu, p.lung_closing_mm,
                            p.mask_spacing_mm)


def _voxel(geo, point) -> tuple[int, int, int]:
    z, y, x = np.round(geo.world_to_voxel(np.asarray([point]))[0]).astype(int)
    return int(z), int(y), int(x)


@pytest.mark.parametrize("ends", [slice(0, 3), slice(-3, None)], ids=["first", "last"])
def test_all_air_slices_at_the_scan_end_do_not_join_the_lungs_to_the_outside(ends):
    # the resampler pads past the scan's range with air: those slices touch both lungs
    hu, geo = chest()
    reference = _mask(hu)
    hu[ends] = AIR_HU
    mask = _mask(hu)
    body = np.ones(hu.shape[0], dtype=bool)
    body[ends] = False
    assert mask[body].sum() >= 0.95 * reference[body].sum()
    assert mask[(body[:, None, None] & ~reference)].sum() == 0
    for point in (SOLID, JUXTAPLEURAL):
        assert mask[_voxel(geo, point)], point
    # both lungs (x < 0 and x > 0 in world, either side of the array's middle column)
    middle = hu.shape[2] // 2
    assert mask[..., :middle].any() and mask[..., middle:].any()
    table = generate_candidates(hu, geo, phantom_params())
    for point in (SOLID, JUXTAPLEURAL):
        d = np.linalg.norm(table[["coordX", "coordY", "coordZ"]].to_numpy() - point, axis=1)
        assert d.min() < 2.0, point


def test_outside_air_in_plane_is_the_air_reaching_its_own_slice_border():
    air = np.zeros((2, 7, 7), dtype=bool)
    air[0] = True  # an empty slice: all of it reaches the border
    air[1, 2:5, 2:5] = True  # enclosed in its slice, though it touches slice 0 across z
    air[1, 0, 3] = True
    outside = outside_air_in_plane(air)
    assert outside[0].all()
    assert not outside[1, 2:5, 2:5].any()
    assert outside[1, 0, 3]
    assert outside.sum() == 49 + 1
