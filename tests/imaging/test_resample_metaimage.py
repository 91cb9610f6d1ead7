"""Resampling MetaImage volumes (LUNA16's .mhd + .raw): direction and origin stay intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_phantoms import load_stage, write_params

from pipeline.errors import InputError
from pipeline.imaging.geometry import Geometry, rotation_matrix
from pipeline.imaging.resample import read_image_hu
from pipeline.io import read_csv

# oblique (17 degrees about z, then 9 about x) with the slice axis flipped, far from the origin
_ROT = (np.asarray(rotation_matrix(17, "z")).reshape(3, 3)
        @ np.asarray(rotation_matrix(9, "x")).reshape(3, 3) @ np.diag([1.0, 1.0, -1.0]))
OBLIQUE = Geometry(origin=(-120.5, 43.25, 310.0), spacing=(0.8, 0.9, 2.5),
                   direction=tuple(_ROT.ravel()))  # type: ignore[arg-type]
MARKED_ZYX = (6, 10, 13)


def _marked_volume(shape_zyx: tuple[int, int, int] = (12, 20, 24)) -> np.ndarray:
    """Air with one bright 3x3x3 block centred on the voxel ``MARKED_ZYX``."""
    volume = np.full(shape_zyx, -1000, dtype=np.int16)
    z, y, x = MARKED_ZYX
    volume[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = 1000
    return volume


def _write(path: Path, volume: np.ndarray, geometry: Geometry) -> Path:
    image = sitk.GetImageFromArray(volume)
    geometry.apply_to_sitk(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _bright_centre_world(image: sitk.Image) -> np.ndarray:
    """World position (mm) of the HU-weighted centre of the voxels above 0 HU."""
    values = sitk.GetArrayFromImage(image).astype(np.float64)
    voxels = np.argwhere(values > 0)
    weights = values[values > 0] + 1000.0
    centre_zyx = (voxels * weights[:, None]).sum(axis=0) / weights.sum()
    return Geometry.from_sitk(image).voxel_to_world(centre_zyx)


def test_read_image_hu_keeps_values_origin_and_direction(tmp_path):
    path = _write(tmp_path / "1.2.3.mhd", _marked_volume(), OBLIQUE)
    image = read_image_hu(path)
    assert image.GetPixelID() == sitk.sitkFloat32
    assert image.GetOrigin() == OBLIQUE.origin and image.GetDirection() == OBLIQUE.direction
    assert np.array_equal(sitk.GetArrayViewFromImage(image), _marked_volume())


def test_read_image_hu_names_the_file_when_its_data_is_missing(tmp_path):
    path = _write(tmp_path / "1.2.3.mhd", _marked_volume(), OBLIQUE)
    (tmp_path / "1.2.3.raw").unlink()
    with pytest.raises(InputError, match="1.2.3.mhd"):
        read_image_hu(path)


def test_standalone_stage_on_a_folder_of_mhd_keeps_direction_origin_and_the_marked_point(
        tmp_path):
    _write(tmp_path / "in" / "subset3" / "1.2.3.mhd", _marked_volume(), OBLIQUE)
    params = write_params(tmp_path / "params.yaml", resample={"jobs": 1, "lung_mask": False})
    out = tmp_path / "volumes"
    assert load_stage("resample").main(["--input", str(tmp_path / "in"), "--output", str(out),
                                        "--params", str(params)]) == 0
    geometry = read_csv(out / "geometry.csv", keep_default_na=False)
    assert geometry["series_uid"].tolist() == ["1.2.3"]
    assert geometry.loc[0, "patient_id"] == "1.2.3"
    image = sitk.ReadImage(str(out / geometry.loc[0, "file"]))
    assert np.allclose(image.GetDirection(), OBLIQUE.direction, atol=1e-9)
    assert image.GetSpacing() == (1.0, 1.0, 1.0)
    # same physical box: the outer corner of voxel 0 stays where it was
    corner_in = np.asarray(OBLIQUE.origin) - OBLIQUE.matrix @ (np.asarray(OBLIQUE.spacing) / 2)
    corner_out = np.asarray(image.GetOrigin()) - OBLIQUE.matrix @ np.full(3, 0.5)
    assert np.allclose(corner_out, corner_in, atol=1e-6)
    marked = OBLIQUE.voxel_to_world(MARKED_ZYX)
    assert np.linalg.norm(_bright_centre_world(image) - marked) < 0.5  # mm


def test_standalone_stage_on_a_mixed_folder_says_to_pass_format(tmp_path, capsys):
    _write(tmp_path / "in" / "1.2.3.mhd", _marked_volume(), OBLIQUE)
    (tmp_path / "in" / "slice.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    params = write_params(tmp_path / "params.yaml", resample={"jobs": 1})
    code = load_stage("resample").main(["--input", str(tmp_path / "in"), "--output",
                                        str(tmp_path / "out"), "--params", str(params)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(err) == 1
    assert str(tmp_path / "in") in err[0] and "--format" in err[0]


def test_a_real_ct_slice_as_metaimage_resamples_with_its_scanner_geometry(tmp_path):
    """pydicom's public CT test image (a real scanner slice, 128x128, 0.66 mm pixels, 5 mm thick),
    stacked into a 4-slice volume and written as ``.mhd`` + ``.raw`` with its own origin and
    direction: the resampled volume keeps the origin, the direction and the tissue's HU."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    volume = np.repeat(hu[None], 4, axis=0).astype(np.int16)
    row, col = (np.asarray(ds.ImageOrientationPatient[:3], float),
                np.asarray(ds.ImageOrientationPatient[3:], float))
    direction = np.column_stack([row, col, np.cross(row, col)])
    spacing = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), float(ds.SliceThickness))
    geometry = Geometry(origin=tuple(float(v) for v in ds.ImagePositionPatient),
                        spacing=spacing, direction=tuple(direction.ravel()))  # type: ignore[arg-type]
    _write(tmp_path / "in" / "1.2.826.0.1.3680043.8.498.1.mhd", volume, geometry)
    params = write_params(tmp_path / "params.yaml", resample={"jobs": 1, "lung_mask": False})
    out = tmp_path / "volumes"
    assert load_stage("resample").main(["--input", str(tmp_path / "in"), "--output", str(out),
                                        "--params", str(params)]) == 0
    geometry_table = read_csv(out / "geometry.csv", keep_default_na=False)
    image = sitk.ReadImage(str(out / geometry_table.loc[0, "file"]))
    assert np.allclose(image.GetDirection(), geometry.direction, atol=1e-9)
    corner_in = np.asarray(geometry.origin) - geometry.matrix @ (np.asarray(spacing) / 2)
    corner_out = np.asarray(image.GetOrigin()) - geometry.matrix @ np.full(3, 0.5)
    assert np.allclose(corner_in, corner_out, atol=1e-6)
    # the soft tissue in the middle of the slice keeps its HU (median within a few HU)
    mid = sitk.GetArrayFromImage(image)[image.GetSize()[2] // 2]
    tissue_in, tissue_out = hu[(hu > -200) & (hu < 200)], mid[(mid > -200) & (mid < 200)]
    assert abs(float(np.median(tissue_in)) - float(np.median(tissue_out))) < 10
