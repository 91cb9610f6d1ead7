"""World-aligned cubes around world points: centre, axis order, flips, oblique, padding."""

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_phantoms import ball_volume, write_series

from pipeline.imaging.geometry import Geometry, rotation_matrix
from pipeline.imaging.patches import (
    central_slices,
    cube_size,
    extract_cubes,
    inside_volume,
    normalize_hu,
)
from pipeline.imaging.resample import read_series_hu, resample_image

DIRECTIONS = {
    "identity": (1, 0, 0, 0, 1, 0, 0, 0, 1),
    "flipped": (-1, 0, 0, 0, 1, 0, 0, 0, -1),
    "permuted-flipped": (0, 0, 1, -1, 0, 0, 0, 1, 0),
    "oblique": rotation_matrix(30, "z"),
}




def _marker_volume(geo: Geometry, center_world, shape=(16, 16, 16)) -> np.ndarray:
    """Ball (1000 HU) at ``center_world``, markers 3 mm towards world +x (500) and +z (200)."""
    volume = ball_volume(shape, geo, center_world, 1.0, inside_hu=1000.0)
    for offset, hu in (([3.0, 0, 0], 500.0), ([0, 0, 3.0], 200.0)):
        marker = ball_volume(shape, geo, np.add(center_world, offset), 1.2, 1.0, 0.0) > 0
        volume[marker] = hu
    return volume.astype(np.int16)


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_world_to_voxel_round_trip(name):
    geo = Geometry((12.0, -7.0, 30.0), (0.8, 0.9, 2.0), DIRECTIONS[name])
    world = np.array([[1.0, 2.0, 3.0], [-40.5, 17.25, 60.0]])
    assert np.allclose(geo.voxel_to_world(geo.world_to_voxel(world)), world, atol=1e-9)


def test_cube_size_rounds_half_up():
    assert cube_size(32.0, 1.0) == 32
    assert cube_size(5.0, 2.0) == 3
    assert cube_size(0.1, 1.0) == 1


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_ball_is_at_cube_centre_with_world_aligned_axes(name):
    geo = Geometry((3.0, -4.0, 5.0), (1.0, 1.0, 1.0), DIRECTIONS[name])
    center = geo.voxel_to_world([8.0, 7.0, 8.0])
    cubes, inside = extract_cubes(_marker_volume(geo, center), geo, center[None], size=9)
    cube = cubes[0].astype(np.float64)
    c = 9 // 2
    assert inside.tolist() == [True] and cubes.dtype == np.int16
    assert cube[c, c, c] == pytest.approx(1000.0, abs=1)
    assert cube[c, c, c + 3] == pytest.approx(500.0, abs=1)  # +x marker on the last axis
    assert cube[c + 3, c, c] == pytest.approx(200.0, abs=1)  # +z marker on the first axis
    assert max(cube[c, c, c - 3], cube[c - 3, c, c], cube[c, c + 3, c], cube[c, c - 3, c]) < -500


def test_fast_path_centre_is_the_nearest_voxel():
    geo = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), DIRECTIONS["flipped"])
    volume = np.arange(16 * 16 * 16, dtype=np.int16).reshape(16, 16, 16)
    point = geo.voxel_to_world([7.4, 8.6, 6.5])  # rounds (half up) to voxel (7, 9, 7)
    cubes, _ = extract_cubes(volume, geo, point[None], size=4)
    assert cubes[0, 2, 2, 2] == volume[7, 9, 7]


def test_full_path_from_negative_normal_dicom_puts_ball_at_centre(tmp_path, resample_params):
    geo = Geometry((10.0, 20.0, 30.0), (0.7, 0.7, 2.5), (1, 0, 0, 0, -1, 0, 0, 0, -1))
    center = geo.voxel_to_world([4.2, 10.3, 9.6])
    zz, yy, xx = np.indices((10, 22, 22)).reshape(3, -1)
    dist2 = ((geo.voxel_to_world(np.stack([zz, yy, xx], 1)) - center) ** 2).sum(1)
    blob = (-1000.0 + 1500.0 * np.exp(-dist2 / (2 * 3.0**2))).reshape(10, 22, 22)
    files = write_series(tmp_path, "1.2.3", blob, geo).split("|")
    image = resample_image(read_series_hu([tmp_path / f for f in files]),
                           **resample_params.resample_args())
    out_geo = Geometry.from_sitk(image)
    cubes, inside = extract_cubes(sitk.GetArrayFromImage(image), out_geo, center[None], size=15)
    weights = np.clip(cubes[0].astype(np.float64) + 700.0, 0, None)
    centroid_zyx = (np.indices(weights.shape).reshape(3, -1) @ weights.ravel()) / weights.sum()
    nearest = out_geo.voxel_to_world(np.floor(out_geo.world_to_voxel(center) + 0.5))
    expected_zyx = 15 // 2 + (center - nearest)[::-1]  # cube axes are world z, y, x (1 mm)
    assert inside[0] and np.allclose(centroid_zyx, expected_zyx, atol=0.25)
    assert np.abs(center - nearest).max() <= 0.5 + 1e-9  # the documented sub-voxel rounding


def test_padding_outside_volume_is_air():
    geo = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    volume = np.full((8, 16, 16), 100, dtype=np.int16)
    corner = geo.voxel_to_world([0.0, 0.0, 0.0])
    for name in ("identity", "oblique"):
        geo_n = replace(geo, direction=DIRECTIONS[name])
        cubes, inside = extract_cubes(volume, geo_n, geo_n.voxel_to_world([0, 0, 0])[None], 6)
        assert inside[0]
        assert (cubes[0] == -1000).any() and (cubes[0] == 100).any()
    cubes, _ = extract_cubes(volume, geo, corner[None], 6)
    assert (cubes[0, :3] == -1000).all() and (cubes[0, 3:, 3:, 3:] == 100).all()


def test_centre_outside_volume_is_flagged_and_all_air():
    geo = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), DIRECTIONS["flipped"])
    volume = np.zeros((8, 8, 8), dtype=np.int16)
    points = np.array([geo.voxel_to_world([3, 3, 3]), [100.0, 100.0, 100.0],
                       geo.voxel_to_world([7.6, 0, 0])])
    cubes, inside = extract_cubes(volume, geo, points, 4)
    assert inside.tolist() == [True, False, False]
    assert (cubes[1] == -1000).all()
    assert inside_volume((8, 8, 8), geo, points).tolist() == [True, False, False]


def test_central_slices_follow_the_contract():
    cubes = np.arange(2 * 8**3, dtype=np.int16).reshape(2, 8, 8, 8)
    slices = central_slices(cubes, 4)
    assert slices.shape == (2, 4, 4)
    assert np.array_equal(slices[1], cubes[1, 4, 2:6, 2:6])
    with pytest.raises(ValueError, match="slice_px"):
        central_slices(cubes, 9)


def test_normalize_hu_maps_window_to_unit_interval():
    out = normalize_hu(np.array([-2000, -1000, -300, 400, 3000], dtype=np.int16), (-1000, 400))
    assert out.dtype == np.float32
    assert np.allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
