"""De-identifying whole series: no leak, determinism, references, geometry, pixels, quarantine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from conftest import IDENTITY, PHI_STRINGS, anonymize_params, file_key, write_phi_series
from pipeline.dicom.deid.actions import DeidContext
from pipeline.dicom.deid.cohort import (
    CohortReport,
    DeidSettings,
    anonymize_cohort,
    group_folder,
    map_series_table,
)
from pipeline.dicom.deid.dates import shift_da
from pipeline.dicom.deid.profile import Profile
from pipeline.parallel import ExecutorParams


def run(settings: DeidSettings, root: Path, out: Path, jobs: int = 1) -> CohortReport:
    executor = ExecutorParams(jobs=jobs)
    sources, rejected, paths = group_folder(root, settings.pseudonymizer(), executor)
    out.mkdir(parents=True, exist_ok=True)
    return anonymize_cohort(sources, root, out, settings, executor, rejected, paths)


def output_files(out: Path) -> list[Path]:
    return sorted((out / "dicom").rglob("*.dcm"))


def all_text(path: Path) -> str:
    """Every element value of a file (meta, nested sequences, private tags) as text, + its path."""
    ds = pydicom.dcmread(path)
    parts = [str(path)]
    for dset in (ds.file_meta, ds):
        for elem in dset.iterall():
            if elem.tag != 0x7FE00010 and elem.VR != "SQ":
                parts.append(repr(elem.value))
    return "\n".join(parts)


def test_phi_corpus_is_anonymized_without_leak(settings, phi_folder, tmp_path):
    report = run(settings, phi_folder, tmp_path / "out")
    assert report.leaks == []
    assert report.files_written == 3
    for path in output_files(tmp_path / "out"):
        text = all_text(path)
        for phi in PHI_STRINGS:
            assert phi.casefold() not in text.casefold(), phi


def test_overlays_curves_and_private_tags_are_removed(settings, phi_folder, tmp_path):
    run(settings, phi_folder, tmp_path / "out")
    ds = pydicom.dcmread(output_files(tmp_path / "out")[0])
    groups = {elem.tag.group for elem in ds}
    assert not groups & {0x5000, 0x6000}
    assert not any(g % 2 for g in groups)
    assert "SourceApplicationEntityTitle" not in ds.file_meta


def test_deidentification_is_recorded(settings, phi_folder, tmp_path):
    run(settings, phi_folder, tmp_path / "out")
    ds = pydicom.dcmread(output_files(tmp_path / "out")[0])
    assert ds.PatientIdentityRemoved == "YES"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113107", "DCM")]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.PatientName == ds.PatientID and str(ds.PatientID).startswith("PAT-")


def test_broken_profile_makes_verification_fail(settings, phi_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(DeidContext, "carries_identity", lambda self, elem, vr: False)
    actions = dict(settings.profile.actions)
    actions[0x00080080] = "K"  # InstitutionName kept by mistake
    broken = replace(settings, profile=replace(settings.profile, actions=actions))
    report = run(broken, phi_folder, tmp_path / "out")
    assert len(report.leaks) == 3
    assert all("(0008,0080)" in where for _, where in report.leaks)


def test_same_key_gives_identical_bytes_and_other_key_other_uids(settings, phi_folder, tmp_path):
    run(settings, phi_folder, tmp_path / "a")
    run(settings, phi_folder, tmp_path / "b", jobs=2)
    other = replace(settings, key_source=file_key(tmp_path, b"another-key-0123456789abcdef"))
    run(other, phi_folder, tmp_path / "c")
    a, b, c = (output_files(tmp_path / d) for d in "abc")
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    assert {p.parent.name for p in a}.isdisjoint({p.parent.name for p in c})


def test_references_stay_consistent(settings, phi_folder, tmp_path):
    run(settings, phi_folder, tmp_path / "out")
    files = [pydicom.dcmread(p) for p in output_files(tmp_path / "out")]
    first_sop = files[0].SOPInstanceUID
    for ds in files:
        assert ds.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == first_sop
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert len(ds.SOPInstanceUID) <= 64 and ds.SOPInstanceUID.startswith("2.25.")
    assert len({ds.FrameOfReferenceUID for ds in files}) == 1
    assert len({ds.SOPInstanceUID for ds in files}) == 3


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", RLELossless])
def test_geometry_and_pixel_bytes_are_unchanged(settings, tmp_path, syntax):
    inputs = write_phi_series(tmp_path / "in", transfer_syntax=syntax)
    run(settings, tmp_path / "in", tmp_path / "out")
    for src, dst in zip(inputs, output_files(tmp_path / "out"), strict=True):
        a, b = pydicom.dcmread(src), pydicom.dcmread(dst)
        assert b.file_meta.TransferSyntaxUID == syntax
        assert a.PixelData == b.PixelData
        for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                   "RescaleSlope", "RescaleIntercept", "SliceThickness", "Rows", "Columns"):
            assert a.get(kw) == b.get(kw), kw
        assert np.array_equal(a.pixel_array, b.pixel_array)


def test_dates_are_shifted_consistently_per_patient(settings, tmp_path):
    write_phi_series(tmp_path / "in" / "s1")
    write_phi_series(tmp_path / "in" / "s2", n=2)  # same patient, another series
    run(settings, tmp_path / "in", tmp_path / "out")
    files = [pydicom.dcmread(p) for p in output_files(tmp_path / "out")]
    assert len({ds.SeriesInstanceUID for ds in files}) == 2
    assert {ds.StudyDate for ds in files} == {ds.AcquisitionDate for ds in files}
    (shifted,) = {ds.StudyDate for ds in files}
    days = [d for d in range(1, 366) if shift_da(IDENTITY.study_date, d) == shifted]
    assert len(days) == 1
    assert {ds.StudyTime for ds in files} == {IDENTITY.study_time}
    assert {ds.PatientID for ds in files} == {files[0].PatientID}


def test_burned_in_annotation_is_quarantined(settings, tmp_path):
    write_phi_series(tmp_path / "in" / "a", burned_in="YES")
    write_phi_series(tmp_path / "in" / "b", burned_in="NO")
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert len(report.series) == 1 and report.files_quarantined == 3
    (item, reason), = report.quarantine.itertuples(index=False)
    assert "BurnedInAnnotation=YES" in reason and item.startswith("series:2.25.")
    assert len(output_files(tmp_path / "out")) == 3


def test_unreadable_file_is_quarantined_without_its_name(settings, phi_folder, tmp_path):
    (phi_folder / "Müller_Hans" / "notes_Müller.txt").write_text("not dicom")
    report = run(settings, phi_folder, tmp_path / "out")
    (item, reason), = report.quarantine.itertuples(index=False)
    assert item.startswith("file:") and "Müller" not in item
    assert reason == "not DICOM"
    (mapped_item, path), = report.quarantine_paths.itertuples(index=False)
    assert mapped_item == item and path == "Müller_Hans/notes_Müller.txt"


def test_retained_characteristics_and_device_identity(tmp_path, env_key):
    params = anonymize_params(retain_patient_characteristics=True, retain_device_identity=True)
    settings = DeidSettings.from_params(params, env_key)
    write_phi_series(tmp_path / "in")
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == []
    ds = pydicom.dcmread(output_files(tmp_path / "out")[0])
    assert (ds.PatientSex, ds.PatientAge) == ("M", "066Y")
    assert ds.DeviceSerialNumber == IDENTITY.device_serial
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107", "113108", "113109"]


def test_safe_private_allow_list_keeps_only_listed_element(tmp_path, env_key):
    params = anonymize_params(retain_safe_private=("0029,xx01:ZEB PRIVATE NOTES",))
    settings = DeidSettings.from_params(params, env_key)
    write_phi_series(tmp_path / "in")
    report = run(settings, tmp_path / "in", tmp_path / "out")
    ds = pydicom.dcmread(output_files(tmp_path / "out")[0])
    block = ds.private_block(0x0029, "ZEB PRIVATE NOTES")
    assert block[0x01].value == "PRIVNOTE8812"
    assert block.get_tag(0x02) not in ds
    assert report.leaks == [] and "113111" in [i.CodeValue for i in
                                               ds.DeidentificationMethodCodeSequence]


def test_tables_are_mapped_and_unkept_series_rows_dropped():
    import pandas as pd

    frame = pd.DataFrame({"seriesuid": ["1.2.3", "1.2.4", "1.2.3"], "coordX": [1.0, 2.0, 3.0]})
    mapped, dropped = map_series_table(frame, {"1.2.3": "2.25.99"})
    assert list(mapped["seriesuid"]) == ["2.25.99", "2.25.99"] and dropped == 1


def test_profile_type_is_a_plain_mapping(settings):
    assert isinstance(settings.profile, Profile) and len(settings.profile.actions) > 600
