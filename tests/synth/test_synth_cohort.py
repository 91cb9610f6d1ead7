"""The cohort: determinism, DICOM readable by SimpleITK with the intended geometry, tables."""

from __future__ import annotations

import numpy as np
import pydicom
import SimpleITK as sitk
from scipy import ndimage
from synth_helpers import TINY_Z_EXTENT_MM, file_hashes, tiny_params

from pipeline.imaging.geometry import Geometry
from pipeline.io import read_csv
from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import synthesize_cohort


def _series(result):
    return [(p, s) for p in result.patients for s in p.series]


def test_same_seed_gives_byte_identical_files_whatever_the_jobs(tiny_cohort, tmp_path):
    out, _ = tiny_cohort
    again = tmp_path / "again"
    synthesize_cohort(again, tiny_params(jobs=2), ExecutorParams(jobs=2),
                      z_extent_mm=TINY_Z_EXTENT_MM)
    first = file_hashes(out)
    assert len(first) > 20
    assert file_hashes(again) == first


def test_other_seed_gives_other_data(tiny_cohort, tmp_path):
    out, _ = tiny_cohort
    other = tmp_path / "other"
    synthesize_cohort(other, tiny_params(seed=12, n_patients=1), ExecutorParams(jobs=1),
                      z_extent_mm=10.0)
    assert (other / "annotations.csv").read_bytes() != (out / "annotations.csv").read_bytes()
    assert not set(file_hashes(other).values()) & set(file_hashes(out).values())


def test_cohort_covers_every_variant(tiny_cohort):
    _, result = tiny_cohort
    m = result.metrics
    assert set(m["series_per_transfer_syntax"]) == {"ImplicitVRLittleEndian", "RLELossless"}
    assert m["series"] == 3 and m["patients"] == 2
    positions = {s.patient_position for _, s in _series(result)}
    assert any(p.startswith("FF") for p in positions)
    assert any(p.endswith("P") for p in positions)


def test_every_series_reads_back_with_sitk_at_the_intended_geometry_and_hu(tiny_cohort):
    out, result = tiny_cohort
    for patient, series in _series(result):
        folder = out / "dicom" / series.files[0].split("/")[0]
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(
            str(folder), series.series_uid, False, True)
        assert len(names) == len(series.files)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        image = reader.Execute()
        geo = series.geometry
        assert np.allclose(image.GetSpacing(), geo.spacing, atol=1e-4)
        assert np.allclose(image.GetOrigin(), geo.origin, atol=1e-4)
        assert np.allclose(image.GetDirection(), geo.direction, atol=1e-6)
        hu = sitk.GetArrayFromImage(image)
        assert hu.shape == series.volume_hu.shape
        assert np.array_equal(hu, series.volume_hu), f"patient {patient.index}"


def test_series_hu_show_air_lung_soft_tissue_and_bone(tiny_cohort):
    _, result = tiny_cohort
    hu = result.patients[0].series[0].volume_hu
    assert np.percentile(hu, 5) < -950  # air around the body
    assert np.percentile(hu, 99.9) > 300  # spine and ribs
    lung = (hu > -950) & (hu < -750)
    assert lung.mean() > 0.05
    assert ((hu > -150) & (hu < 150)).mean() > 0.1  # fat and soft tissue


def test_annotated_nodules_land_in_a_blob_of_nodule_hu_of_the_annotated_size(tiny_cohort):
    _, result = tiny_cohort
    checked = 0
    for patient, series in _series(result):
        smooth = ndimage.gaussian_filter(series.volume_hu.astype(np.float32), 1.0)
        geo: Geometry = series.geometry
        voxel_mm3 = float(np.prod(geo.spacing))
        for nodule in patient.anatomy.nodules:
            vz, vy, vx = np.rint(geo.world_to_voxel(nodule.center_mm)).astype(int)
            threshold = (nodule.hu + patient.anatomy.lung_hu) / 2
            assert smooth[vz, vy, vx] > threshold
            if nodule.location != "parenchymal":
                continue
            # the blob within 1.3 radii of the centre (vessels may touch it further out)
            world = geo.voxel_to_world(np.argwhere(np.ones(smooth.shape, bool)))
            near = np.linalg.norm(world - nodule.center_mm, axis=1).reshape(smooth.shape) \
                < 0.65 * nodule.diameter_mm
            blob, _ = ndimage.label((smooth > threshold) & near)
            size = (blob == blob[vz, vy, vx]).sum() * voxel_mm3
            diameter = (6 * size / np.pi) ** (1 / 3)
            assert 0.6 * nodule.diameter_mm < diameter < 1.5 * nodule.diameter_mm
            checked += 1
    assert checked >= 1


def test_vessel_candidates_land_on_vessels(tiny_cohort):
    _, result = tiny_cohort
    patient = result.patients[0]
    series = patient.series[0]
    vessels = [c for c in patient.candidates if c.kind == "vessel"]
    assert vessels
    points = np.array([c.center_mm for c in vessels])
    assert (patient.anatomy.vessels.surface_distance_mm(points) < 0).all()
    vz, vy, vx = np.rint(series.geometry.world_to_voxel(points)).astype(int).T
    local_max = ndimage.maximum_filter(series.volume_hu, size=3)
    assert np.median(local_max[vz, vy, vx]) > -600


def test_tables_are_luna16_and_every_nodule_has_a_positive_candidate(tiny_cohort):
    out, result = tiny_cohort
    ann = read_csv(out / "annotations.csv")
    cand = read_csv(out / "candidates.csv")
    assert list(ann.columns) == ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"]
    assert list(cand.columns) == ["seriesuid", "coordX", "coordY", "coordZ", "class"]
    assert len(ann) == result.metrics["annotations"] > 0
    assert set(cand["class"]) == {0, 1}
    assert (cand["class"] == 0).sum() > (cand["class"] == 1).sum()
    for row in ann.itertuples():
        pos = cand[(cand.seriesuid == row.seriesuid) & (cand["class"] == 1)]
        dist = np.linalg.norm(pos[["coordX", "coordY", "coordZ"]].to_numpy()
                              - [row.coordX, row.coordY, row.coordZ], axis=1)
        assert dist.min() <= min(2.0, row.diameter_mm / 2) + 1e-6
    written = {s.series_uid for _, s in _series(result)}
    assert set(ann.seriesuid) <= written and set(cand.seriesuid) <= written


def test_negatives_stay_clear_of_nodules(tiny_cohort):
    _, result = tiny_cohort
    for patient in result.patients:
        for c in patient.candidates:
            if c.label == 0:
                for n in patient.anatomy.nodules:
                    gap = np.linalg.norm(np.subtract(c.center_mm, n.center_mm))
                    assert gap > n.diameter_mm / 2


def test_feet_first_series_number_instances_from_the_feet(tiny_cohort):
    out, result = tiny_cohort
    for _, series in _series(result):
        z_by_instance = {}
        for rel in series.files:
            ds = pydicom.dcmread(out / "dicom" / rel, stop_before_pixels=True)
            z_by_instance[int(ds.InstanceNumber)] = float(ds.ImagePositionPatient[2])
        z = [z_by_instance[k] for k in sorted(z_by_instance)]
        feet_first = series.patient_position.startswith("FF")
        assert z == sorted(z, reverse=not feet_first)


def test_files_are_scattered_like_a_pacs_export(tiny_cohort):
    out, result = tiny_cohort
    split = [s for _, s in _series(result) if len({f.split("/")[1] for f in s.files}) == 2]
    assert split  # some studies span two folders
    for _, series in _series(result):
        by_name = sorted(series.files)
        assert by_name != list(series.files) and by_name != list(series.files)[::-1]
