"""The leak check: identifiers gathered from the input, searched in output bytes."""

from __future__ import annotations

from pydicom.dataset import Dataset

from pipeline.dicom.deid.profile import ProfileOptions
from pipeline.dicom.deid.screen import burned_in_reason
from pipeline.dicom.deid.verify import (
    IdentifierCollector,
    build_matcher,
    build_verify_spec,
    identifier_forms,
)

SPEC = build_verify_spec(ProfileOptions(retain_longitudinal_modified_dates=True))


def collect(ds: Dataset, path: str = "x.dcm") -> IdentifierCollector:
    collector = IdentifierCollector(SPEC)
    collector.add_file(ds, path)
    return collector


def test_name_components_and_variants_are_identifiers():
    assert identifier_forms("Müller^Hans", is_name=True) >= {"Müller^Hans", "Müller", "Hans"}
    matcher = build_matcher({"Müller"}, set(), ["utf-8", "latin-1"])
    assert matcher.find("MÜLLER".encode()) and matcher.find(b"MUELLER") and matcher.find(b"muller")


def test_collector_takes_identifying_values_and_paths_not_kept_ones():
    ds = Dataset()
    ds.PatientName = "Müller^Hans"
    ds.InstitutionName = "Sankt Zebulon"
    ds.StudyTime = "093012"  # kept under Modified Dates
    ds.Manufacturer = "ACME Medical"
    collector = collect(ds, "Zorn_Wilma/IM0001.dcm")
    assert {"Müller", "Hans", "Sankt Zebulon", "Zorn", "Wilma"} <= collector.identifiers
    assert "093012" not in collector.identifiers and "ACME Medical" in collector.kept


def test_digit_identifiers_do_not_hit_inside_uids_or_decimals():
    matcher = build_matcher({"471199", "20240115"}, set(), ["utf-8"])
    assert not matcher.find(b"2.25.1234711990000\x00-12.471199\\")
    assert matcher.find(b"\x00\x0820240115")


def test_identifier_equal_to_kept_text_is_not_a_leak():
    matcher = build_matcher({"CHEST", "Sankt Zebulon"}, {"CHEST"}, ["utf-8"])
    assert not matcher.find(b"CS CHEST") and matcher.find(b"sankt zebulon")


def test_private_text_is_identifying_unless_allow_listed():
    ds = Dataset()
    ds.private_block(0x0029, "ZEB", create=True).add_new(0x01, "LO", "PRIVNOTE8812")
    assert "PRIVNOTE8812" in collect(ds).identifiers


def test_burned_in_rules():
    ds = Dataset()
    ds.Modality = "CT"
    assert burned_in_reason(ds) is None
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    assert "SCREEN SAVE" in burned_in_reason(ds)
    us = Dataset()
    us.Modality = "US"
    assert "ultrasound" in burned_in_reason(us)
    us.BurnedInAnnotation = "NO"
    assert burned_in_reason(us) is None
    sc = Dataset()
    sc.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    assert "secondary capture" in burned_in_reason(sc)
