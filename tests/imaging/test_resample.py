"""Reading a series as HU and resampling it: geometry, extent, ball position and size, bytes."""

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_phantoms import ball_volume, write_series

from pipeline.errors import DicomReadError
from pipeline.imaging.geometry import Geometry, rotation_matrix
from pipeline.imaging.resample import (
    anti_alias_sigmas_mm,
    read_series_hu,
    resample_image,
    resampled_grid,
    smooth_for_downsampling,
    write_volume,
)

NEG_NORMAL = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0)  # IOP 1\0\0\0\-1\0: normal -z




def _image(volume, geo):
    image = sitk.GetImageFromArray(volume.astype(np.float32))
    geo.apply_to_sitk(image)
    return image


def _centroid_world(image, threshold=0.0):
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    weights = np.clip(array - threshold, 0, None)
    voxels = np.argwhere(weights > 0)
    center_voxel = (voxels * weights[weights > 0][:, None]).sum(0) / weights[weights > 0].sum()
    return Geometry.from_sitk(image).voxel_to_world(center_voxel)


def test_read_series_hu_keeps_geometry_and_hu_of_negative_normal_series(tmp_path):
    geo = Geometry((10.0, 20.0, 30.0), (0.7, 0.8, 2.5), NEG_NORMAL)
    center = geo.voxel_to_world([4.0, 8.0, 8.0])
    volume = ball_volume((8, 16, 16), geo, center, 2.0)
    files = write_series(tmp_path, "1.2.3", volume, geo).split("|")
    image = read_series_hu([tmp_path / f for f in files])
    assert image.GetPixelID() == sitk.sitkFloat32
    assert np.allclose(image.GetOrigin(), geo.origin, atol=1e-5)
    assert np.allclose(image.GetDirection(), geo.direction, atol=1e-6)
    assert np.allclose(image.GetSpacing(), geo.spacing, atol=1e-5)
    assert np.array_equal(sitk.GetArrayFromImage(image), volume)


def test_read_series_with_missing_file_raises_dicom_read_error(tmp_path):
    with pytest.raises(DicomReadError, match="not found"):
        read_series_hu([tmp_path / "nope.dcm"])


def test_resampled_grid_keeps_direction_and_physical_extent():
    geo = Geometry((5.0, -3.0, 2.0), (0.7, 0.7, 2.5), rotation_matrix(20, "y"))
    grid, size = resampled_grid(geo, (20, 20, 8), 1.0)
    assert size == (14, 14, 20)
    assert grid.direction == geo.direction and grid.spacing == (1.0, 1.0, 1.0)
    old_corner = geo.index_to_world((-0.5, -0.5, -0.5))
    assert np.allclose(grid.index_to_world((-0.5, -0.5, -0.5)), old_corner, atol=1e-9)


def test_anti_alias_sigma_only_on_downsampled_axes():
    sigmas = anti_alias_sigmas_mm((0.5, 1.0, 2.5), (1.0, 1.0, 1.0))
    assert sigmas[0] == pytest.approx(np.sqrt(1.0 - 0.25) / 2.3548, rel=1e-3)
    assert sigmas[1] == 0.0 and sigmas[2] == 0.0


def test_smoothing_leaves_upsampled_axis_untouched():
    stripes = np.zeros((4, 6, 8), dtype=np.float32)
    stripes[:, :, ::2] = 1000.0  # alternating along x (downsampled)
    stripes[::2] += 500.0  # alternating along z (upsampled)
    image = _image(stripes, Geometry((0, 0, 0), (0.5, 1.0, 1.0)))
    out = sitk.GetArrayFromImage(smooth_for_downsampling(image, (1.0, 1.0, 0.5)))
    assert np.ptp(np.diff(out[:, 2, 3:5], axis=1)) < 1e-3  # x contrast reduced equally
    assert np.abs(np.diff(out[:, 2, 3], axis=0)).max() == pytest.approx(500.0, rel=1e-4)
    assert np.ptp(out[0, 2, 2:6]) < 1000.0 * 0.9


def test_resample_output_is_int16_clipped_with_same_direction(resample_params):
    geo = Geometry((0, 0, 0), (0.8, 0.8, 2.0), NEG_NORMAL)
    volume = np.full((6, 10, 10), 5000.0, dtype=np.float32)
    volume[:, :5] = -3000.0
    params = replace(resample_params, hu_range=(-1000.0, 2000.0))
    out = resample_image(_image(volume, geo), **params.resample_args())
    array = sitk.GetArrayFromImage(out)
    assert out.GetPixelID() == sitk.sitkInt16
    assert array.min() == -1000 and array.max() == 2000
    assert out.GetDirection() == geo.direction and out.GetSpacing() == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("direction", [NEG_NORMAL, rotation_matrix(25, "x")],
                         ids=["negative-normal", "oblique"])
@pytest.mark.parametrize("interpolator", ["linear", "bspline"])
def test_resampling_keeps_ball_position_and_size(resample_params, direction, interpolator):
    geo = Geometry((-20.0, 15.0, 40.0), (0.6, 0.6, 2.0), direction)
    shape = (14, 40, 40)
    center = geo.voxel_to_world([6.3, 19.2, 20.7])
    radius = 5.0
    volume = ball_volume(shape, geo, center, radius, inside_hu=1000.0, background_hu=0.0)
    params = replace(resample_params, interpolator=interpolator)
    out = resample_image(_image(volume, geo), **params.resample_args())
    assert np.allclose(_centroid_world(out, threshold=0.0), center, atol=0.3)
    volume_ml = (sitk.GetArrayFromImage(out) > 500).sum() * 1.0  # 1 mm^3 voxels
    assert volume_ml == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.12)


def test_resampled_volume_written_twice_is_byte_identical(tmp_path, resample_params):
    geo = Geometry((1.0, 2.0, 3.0), (0.7, 0.7, 2.5), NEG_NORMAL)
    volume = ball_volume((8, 16, 16), geo, geo.voxel_to_world([4, 8, 8]), 3.0)
    first, second = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    write_volume(resample_image(_image(volume, geo), **resample_params.resample_args()), first)
    write_volume(resample_image(_image(volume, geo), **resample_params.resample_args()), second)
    assert first.read_bytes() == second.read_bytes()
    back = sitk.ReadImage(str(first))
    assert back.GetPixelID() == sitk.sitkInt16
    assert np.allclose(back.GetDirection(), geo.direction, atol=1e-6)
