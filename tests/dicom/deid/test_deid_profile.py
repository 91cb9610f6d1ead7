"""The project's profile checked against the standard's Table E.1-1 (vendored JSON)."""

from __future__ import annotations

import json

import pytest

from pipeline.dicom.deid.profile import (
    ACTION_CODES,
    COMPOUND_CODES,
    TABLE_PATH,
    ProfileOptions,
    build_profile,
    load_standard_table,
    parse_safe_private,
    resolve_compound,
    vr_of,
)
from pipeline.errors import ConfigError

BASIC = build_profile(ProfileOptions())


def test_vendored_table_is_the_standard_table_with_621_attributes():
    rows = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    assert len(rows) == len(load_standard_table()) == 621
    assert {r["basicProfile"] for r in rows} <= set(ACTION_CODES) | set(COMPOUND_CODES)


def test_every_attribute_of_the_table_has_a_simple_action():
    for entry in load_standard_table():
        if entry.tag is None:
            continue
        assert BASIC.actions[entry.tag] in ACTION_CODES, entry.name


def test_simple_codes_are_taken_from_the_standard():
    """Every simple code is applied as the standard says, except the documented project rules."""
    for entry in load_standard_table():
        if entry.tag is None or "/" in entry.basic:
            continue
        ours = BASIC.actions[entry.tag]
        if entry.tag in (0x00100010, 0x00100020):
            assert ours == "D", entry.name  # pseudonym: a non-zero dummy, allowed by Z and D
        elif entry.basic == "D" and vr_of(entry.tag) == "UI":
            assert ours == "U", entry.name
        else:
            assert ours == entry.basic, entry.name


@pytest.mark.parametrize("keyword_tag, expected", [
    (0x00100010, "D"),  # PatientName -> replaced by the pseudonym
    (0x00080050, "Z"),  # AccessionNumber
    (0x00080080, "X"),  # InstitutionName (X/Z/D, Type 3 in CT)
    (0x0020000D, "U"),  # StudyInstanceUID
    (0x00100040, "Z"),  # PatientSex
    (0x00080023, "Z"),  # ContentDate (Z/D, Type 2 in CT)
    (0x00181000, "X"),  # DeviceSerialNumber (X/Z/D, Type 3)
    (0x00081140, "U"),  # ReferencedImageSequence (X/Z/U*: kept, its UIDs mapped)
])
def test_known_attributes_get_the_expected_action(keyword_tag, expected):
    assert BASIC.actions[keyword_tag] == expected


@pytest.mark.parametrize("code, iod_type, expected", [
    ("X/Z", "2", "Z"), ("X/Z", None, "X"), ("X/D", "1", "D"), ("X/D", "3", "X"),
    ("X/Z/D", "1", "D"), ("X/Z/D", "2", "Z"), ("X/Z/D", "3", "X"), ("Z/D", "1", "D"),
    ("Z/D", "2", "Z"), ("Z/D", None, "Z"), ("X/Z/U*", "1", "U"), ("X/Z/U*", "2", "Z"),
    ("X/Z/U*", None, "X"), ("K", "1", "K"),
])
def test_compound_codes_resolve_by_iod_type(code, iod_type, expected):
    assert resolve_compound(code, iod_type) == expected


def test_patient_characteristics_option_keeps_sex_age_size_weight():
    profile = build_profile(ProfileOptions(retain_patient_characteristics=True))
    for tag in (0x00100040, 0x00101010, 0x00101020, 0x00101030):
        assert profile.actions[tag] == "K"
    assert profile.actions[0x00102110] == "X"  # Allergies: C (free-text cleaning) not implemented


def test_device_identity_option_keeps_serial_and_station():
    profile = build_profile(ProfileOptions(retain_device_identity=True))
    assert profile.actions[0x00181000] == "K" and profile.actions[0x00081010] == "K"


def test_modified_dates_option_cleans_dates_and_times_only():
    profile = build_profile(ProfileOptions(retain_longitudinal_modified_dates=True))
    assert profile.actions[0x00080020] == "C"  # StudyDate
    assert profile.actions[0x00080030] == "C"  # StudyTime (kept: whole-day shift)
    assert profile.actions[0x0008002A] == "C"  # AcquisitionDateTime
    assert profile.actions[0x00080201] == "X"  # TimezoneOffsetFromUTC: SH, cannot be "cleaned"
    assert BASIC.actions[0x00080020] == "Z"


def test_overlays_curves_and_unlisted_identity_vrs_are_removed():
    assert BASIC.action(0x60003000, "OW") == "X" and BASIC.action(0x60224000, "LT") == "X"
    assert BASIC.action(0x50001234, "US") == "X"
    assert BASIC.action(0x0040A123, "PN") == "D"  # PN anywhere
    assert BASIC.action(0x00204000, "LT") == "X"  # ImageComments (listed)
    assert BASIC.action(0x00181210, "SH") == "K"  # ConvolutionKernel (safe text)
    assert BASIC.action(0x00080016, "UI") == "K"  # SOPClassUID
    assert BASIC.action(0x0008114A, "SQ") == "K"  # unlisted sequence: processed item by item


def test_method_codes_follow_enabled_options():
    options = ProfileOptions(True, True, True, (parse_safe_private("0009,xx01:ACME"),))
    codes = [c for c, _ in build_profile(options).method_codes()]
    assert codes == ["113100", "113107", "113108", "113109", "113111"]


@pytest.mark.parametrize("entry", ["0008,xx01:ACME", "0009,0101:ACME", "0009,xx01", "nonsense"])
def test_bad_safe_private_entry_is_rejected(entry):
    with pytest.raises(ConfigError, match="retain_safe_private"):
        parse_safe_private(entry)
