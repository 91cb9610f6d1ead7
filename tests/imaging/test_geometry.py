"""World millimetres <-> voxel indices, including flipped and oblique directions."""

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.errors import GeometryError
from pipeline.imaging.geometry import (
    Geometry,
    direction_from_dicom,
    rotation_matrix,
    slice_normal,
)


def test_world_to_voxel_round_trip_on_oblique_geometry():
    geo = Geometry(origin=(10.0, -5.0, 3.0), spacing=(0.7, 0.7, 2.5),
                   direction=rotation_matrix(degrees=17, axis="z"))
    world = np.array([[12.3, -1.1, 20.0], [-40.0, 7.5, -3.0]])
    assert np.allclose(geo.voxel_to_world(geo.world_to_voxel(world)), world, atol=1e-9)


def test_voxel_order_is_zyx_and_index_order_is_xyz():
    geo = Geometry(origin=(0.0, 0.0, 0.0), spacing=(1.0, 2.0, 3.0))
    assert np.allclose(geo.world_to_index([1.0, 2.0, 3.0]), [1.0, 1.0, 1.0])
    assert np.allclose(geo.world_to_voxel([1.0, 4.0, 9.0]), [3.0, 2.0, 1.0])


def test_matches_simpleitk_on_flipped_geometry():
    direction = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    geo = Geometry(origin=(100.0, -20.0, 50.0), spacing=(0.8, 0.8, 1.25), direction=direction)
    image = sitk.Image(4, 4, 4, sitk.sitkInt16)
    geo.apply_to_sitk(image)
    for idx in [(0, 0, 0), (3, 1, 2), (1.5, 2.25, 0.5)]:
        expected = image.TransformContinuousIndexToPhysicalPoint(idx)
        assert np.allclose(geo.index_to_world(idx), expected)
    assert Geometry.from_sitk(image) == geo


def test_axis_permutation_of_flips_and_none_for_oblique():
    flipped = Geometry((0, 0, 0), (1, 1, 1), (0, 0, 1, -1, 0, 0, 0, 1, 0))
    assert flipped.axis_permutation() == ((1, 2, 0), (-1, 1, 1))
    oblique = Geometry((0, 0, 0), (1, 1, 1), rotation_matrix(30, "x"))
    assert oblique.axis_permutation() is None


def test_direction_from_dicom_normal_is_row_cross_column():
    d = direction_from_dicom([1, 0, 0, 0, -1, 0])
    assert np.allclose(d[:, 2], [0, 0, -1])
    assert np.allclose(slice_normal([0, 1, 0, 0, 0, -1]), [-1, 0, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"spacing": (1.0, 0.0, 1.0)}, "spacing > 0"),
    ({"direction": (1, 0, 0, 0, 2, 0, 0, 0, 1)}, "orthonormal"),
])
def test_invalid_geometry_is_rejected(kwargs, message):
    base = {"origin": (0.0, 0.0, 0.0), "spacing": (1.0, 1.0, 1.0)}
    with pytest.raises(GeometryError, match=message):
        Geometry(**{**base, **kwargs})


def test_non_orthonormal_image_orientation_is_rejected():
    with pytest.raises(GeometryError, match="ImageOrientationPatient"):
        direction_from_dicom([1, 0, 0, 0.5, 0.5, 0])
