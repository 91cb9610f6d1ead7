"""The headers carry fake identity everywhere the anonymizer must look."""

from __future__ import annotations

import pydicom
from synth_helpers import tiny_params

from pipeline.synth.cohort import plan_cohort
from pipeline.synth.dicom_writer import PRIVATE_CREATOR


def _first_files(out, result):
    for patient in result.patients:
        for series in patient.series:
            yield patient.index, series, pydicom.dcmread(out / "dicom" / series.files[0])


def test_headers_carry_identity_in_every_place_the_anonymizer_must_clean(tiny_cohort):
    out, result = tiny_cohort
    identities = [p.identity for p in plan_cohort(tiny_params(), "unused")]
    for index, _, ds in _first_files(out, result):
        ident = identities[index]
        assert str(ds.PatientName) == ident.patient_name
        assert ds.PatientID == ident.patient_id
        assert ds.PatientBirthDate == ident.birth_date
        assert ds.AccessionNumber == ident.accession_number
        assert ds.InstitutionName == ident.institution_name
        assert ds.InstitutionAddress == ident.institution_address
        assert str(ds.ReferringPhysicianName) == ident.referring_physician
        assert str(ds.PerformingPhysicianName) == ident.performing_physician
        assert ds.StationName == ident.station_name
        assert ds.DeviceSerialNumber == ident.device_serial
        assert ds.PatientAddress == ident.extra["PatientAddress"]
        assert ds.file_meta.SourceApplicationEntityTitle == ident.station_name[:16]
        block = ds.private_block(0x0009, PRIVATE_CREATOR)
        value = block[0x01].value  # bytes (VR UN) when written implicit VR
        if isinstance(value, bytes):
            value = value.decode("utf-8").rstrip(" \x00")
        assert value == ident.patient_name
        assert ident.accession_number in ds.RequestAttributesSequence[0].RequestedProcedureID
        if ident.other_patient_ids:
            assert [i.PatientID for i in ds.OtherPatientIDsSequence] == \
                list(ident.other_patient_ids)


def test_some_patient_has_other_patient_ids_and_a_non_ascii_name():
    identities = [p.identity for p in plan_cohort(tiny_params(n_patients=20), "unused")]
    assert any(i.other_patient_ids for i in identities)
    assert any(not i.patient_name.isascii() for i in identities)
    assert len({i.patient_id for i in identities}) == 20


def test_folder_names_carry_patient_id_and_accession(tiny_cohort):
    _, result = tiny_cohort
    identities = [p.identity for p in plan_cohort(tiny_params(), "unused")]
    for patient in result.patients:
        ident = identities[patient.index]
        top, study = patient.series[0].files[0].split("/")[:2]
        assert top.endswith(ident.patient_id)
        assert ident.accession_number in study


def test_sop_instance_uids_are_kept_and_match_file_meta(tiny_cohort):
    out, result = tiny_cohort
    for _, series, ds in _first_files(out, result):
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert ds.SOPInstanceUID.startswith("2.25.")
        assert ds.SeriesInstanceUID == series.series_uid
        assert ds.file_meta.TransferSyntaxUID.keyword == series.transfer_syntax
