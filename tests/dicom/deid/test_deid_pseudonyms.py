"""Keyed UIDs, pseudonyms, date shifts and where the key comes from."""

from __future__ import annotations

import pytest

from conftest import TEST_KEY
from pipeline.dicom.deid.dates import shift_dt
from pipeline.dicom.deid.pseudonyms import DEMO_KEY, KEY_ENV_VAR, Pseudonymizer, load_key
from pipeline.errors import DeidentificationError


def test_uid_is_keyed_stable_and_under_2_25():
    a, b = Pseudonymizer(TEST_KEY), Pseudonymizer(TEST_KEY)
    uid = a.uid("1.2.840.1.2.3")
    assert uid == b.uid("1.2.840.1.2.3") and uid.startswith("2.25.") and len(uid) <= 64
    assert int(uid[5:]) < 2**128
    assert uid != a.uid("1.2.840.1.2.4")
    assert uid != Pseudonymizer(b"other-key-0123456789abcdef").uid("1.2.840.1.2.3")


def test_uid_under_a_long_root_stays_within_64_characters():
    root = "1.2.826.0.1.3680043.10.5432.1234567.89"
    uid = Pseudonymizer(TEST_KEY, root).uid("1.2.3")
    assert uid.startswith(root + ".") and len(uid) == 64
    assert not uid[len(root) + 1:].startswith("0")


def test_patient_pseudonym_format():
    pid = Pseudonymizer(TEST_KEY).patient_id("PID4711999")
    assert pid.startswith("PAT-") and len(pid) == 16 and "4711" not in pid


def test_date_shift_is_per_patient_and_within_bounds():
    ps = Pseudonymizer(TEST_KEY)
    shifts = [ps.date_shift_days(f"P{i}", 30) for i in range(200)]
    assert all(1 <= s <= 30 for s in shifts) and len(set(shifts)) > 10
    assert ps.date_shift_days("P1", 30) == Pseudonymizer(TEST_KEY).date_shift_days("P1", 30)


def test_shift_dt_keeps_time_and_offset():
    assert shift_dt("20240101000000.000000-0500", 1) == "20231231000000.000000-0500"
    assert shift_dt("2024", 1) is None


def test_key_from_environment(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "a-long-enough-secret-key")
    assert load_key(None, synthetic=False) == b"a-long-enough-secret-key"


def test_key_file_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV_VAR, "a-long-enough-secret-key")
    (tmp_path / "key").write_bytes(b"file-secret-0123456789\n")
    assert load_key(tmp_path / "key", synthetic=False) == b"file-secret-0123456789"


def test_no_key_outside_synthetic_mode_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    with pytest.raises(DeidentificationError, match=KEY_ENV_VAR):
        load_key(None, synthetic=False)


def test_synthetic_mode_falls_back_to_the_demo_key(monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    assert load_key(None, synthetic=True) == DEMO_KEY
    assert "demo key" in caplog.text


def test_short_key_is_rejected(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "short")
    with pytest.raises(DeidentificationError, match="too short"):
        load_key(None, synthetic=True)
