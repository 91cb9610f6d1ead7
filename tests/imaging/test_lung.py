"""Lung mask: air inside the body, two largest components, outside air and small gas dropped."""

import numpy as np
from scipy import ndimage

from pipeline.imaging.lung import fill_holes_in_plane, lung_mask


def _chest() -> np.ndarray:
    volume = np.full((10, 32, 32), -1000, dtype=np.int16)  # outside air
    zz, yy, xx = np.indices(volume.shape)
    volume[(yy - 16) ** 2 + (xx - 16) ** 2 < 15**2] = 40  # body
    volume[1:9, 9:23, 6:14] = -850  # right lung
    volume[1:9, 9:23, 18:26] = -850  # left lung
    volume[4, 15:17, 9:11] = 30  # a vessel inside the right lung
    volume[4:6, 27, 15:17] = -900  # a small gas bubble in the body
    return volume


def test_lung_mask_keeps_both_lungs_and_drops_outside_air():
    mask = lung_mask(_chest())
    assert mask.dtype == np.uint8
    assert mask[4, 16, 8] == 1 and mask[4, 16, 22] == 1
    assert mask[4, 1, 1] == 0 and mask[4, 16, 16] == 0


def test_lung_mask_drops_small_gas_and_fills_vessels():
    mask = lung_mask(_chest())
    assert mask[4, 27, 15] == 0
    assert mask[4, 15, 9] == 1  # the vessel is inside the lung
    assert mask.sum() == 2 * 8 * 14 * 8


def test_lung_mask_of_a_volume_without_lungs_is_empty():
    assert lung_mask(np.full((4, 8, 8), -1000, dtype=np.int16)).sum() == 0


def test_fill_holes_in_plane_matches_scipy_per_slice():
    rng = np.random.default_rng(3)
    mask = rng.random((3, 12, 12)) < 0.6
    expected = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    assert np.array_equal(fill_holes_in_plane(mask), expected)


def test_all_air_end_slices_from_resampling_do_not_lose_the_lungs():
    """Resampling pads past the scan's end with air; such a slice touches the outside air and the
    lungs at once, and must not join them (the lungs would be dropped as outside air)."""
    chest = _chest()
    chest[0, 9:23, 6:14] = chest[0, 9:23, 18:26] = -850  # the lungs reach the scan's first slice
    padded = np.concatenate([np.full((2, 32, 32), -1000, np.int16), chest,
                             np.full((1, 32, 32), -1000, np.int16)])
    mask = lung_mask(padded)
    assert mask[2:-1].sum() == lung_mask(chest).sum() > 0
    assert mask[:2].sum() == 0 and mask[-1].sum() == 0
