"""The TID 1500 SR: passes dciodvfy without errors, reads back with highdicom."""

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from pipeline.imaging.geometry import Geometry
from pipeline.node.sr import count_findings
from pipeline.report.sr import Finding, build_sr, read_findings, reports_no_nodule
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

UID = "1.2.826.0.1.3680043.8.498.77"
IDENTITY = PatientIdentity(
    patient_name="ANON^PATIENT", patient_id="P001", birth_date="", sex="O", age="",
    accession_number="A1", study_date="20240105", study_time="101500", institution_name="",
    institution_address="", referring_physician="", performing_physician="", operator_name="",
    station_name="", device_serial="")
FINDINGS = [Finding((1.5, -2.0, -95.0), 8.25, 0.9312), Finding((-6.0, 4.0, -90.0), 5.0, 0.61)]


@pytest.fixture
def source(tmp_path):
    geo = Geometry(origin=(-15.0, -12.0, -100.0), spacing=(1.5, 1.5, 2.5))
    uids = SeriesUIDs(study_uid=f"{UID}.1", series_uid=UID, frame_of_reference_uid=f"{UID}.2",
                      sop_instance_uids=tuple(f"{UID}.3.{k}" for k in range(6)))
    paths = [tmp_path / "ct" / f"IM{k}" for k in range(6)]
    files = write_ct_series(np.full((6, 16, 16), -850.0), geo, paths, IDENTITY, uids)
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]


def _write(source, tmp_path):
    sr = build_sr(source, FINDINGS, series_instance_uid=f"{UID}.9", sop_instance_uid=f"{UID}.9.1",
                  threshold=0.5)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    return path


def test_sr_round_trips_findings_through_highdicom(source, tmp_path):
    back = hd.sr.srread(_write(source, tmp_path))
    assert isinstance(back, hd.sr.Comprehensive3DSR)
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    found = read_findings(back)
    assert [f.center_mm for f in found] == [f.center_mm for f in FINDINGS]
    assert [f.diameter_mm for f in found] == [8.25, 5.0]
    assert [f.probability for f in found] == [0.9312, 0.61]
    groups = back.content.get_planar_roi_measurement_groups()  # type: ignore[attr-defined]
    assert all(g.roi.frame_of_reference_uid == f"{UID}.2" for g in groups)


def test_sr_references_every_source_instance(source, tmp_path):
    ds = pydicom.dcmread(_write(source, tmp_path))
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == UID
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence} == \
        {s.SOPInstanceUID for s in source}
    assert ds.StudyInstanceUID == f"{UID}.1" and ds.PatientID == "P001"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
def test_sr_passes_dciodvfy_without_errors(source, tmp_path):
    proc = subprocess.run(["dciodvfy", str(_write(source, tmp_path))], capture_output=True,
                          text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert errors == [], "\n".join(lines)
    assert any("Comprehensive3DSR" in line for line in lines)  # it recognised the IOD


def _write_none(source, tmp_path):
    sr = build_sr(source, [], series_instance_uid=f"{UID}.8", sop_instance_uid=f"{UID}.8.1",
                  threshold=0.5)
    path = tmp_path / "sr_none.dcm"
    sr.save_as(path, enforce_file_format=True)
    return path


def test_sr_without_findings_states_no_nodule_and_round_trips(source, tmp_path):
    back = hd.sr.srread(_write_none(source, tmp_path))
    assert isinstance(back, hd.sr.Comprehensive3DSR)
    assert read_findings(back) == [] and reports_no_nodule(back)
    [group] = back.content.get_image_measurement_groups()  # type: ignore[attr-defined]
    [evaluation] = group.get_qualitative_evaluations()
    assert (evaluation.name.value, evaluation.value.value) == ("27925004", "272519000")
    assert "none" in back.SeriesDescription
    assert not reports_no_nodule(hd.sr.srread(_write(source, tmp_path)))


def test_sr_without_findings_is_no_finding_for_the_node(source, tmp_path):
    assert count_findings(_write_none(source, tmp_path)) == 0
    assert count_findings(_write(source, tmp_path)) == len(FINDINGS)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
def test_sr_without_findings_passes_dciodvfy_without_errors(source, tmp_path):
    proc = subprocess.run(["dciodvfy", str(_write_none(source, tmp_path))], capture_output=True,
                          text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert [line for line in lines if line.startswith("Error")] == [], "\n".join(lines)
    assert any("Comprehensive3DSR" in line for line in lines)
