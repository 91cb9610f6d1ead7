"""Keyed UIDs, pseudonyms, date shifts and where the key comes from."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from conftest import TEST_KEY, anonymize_params
from pipeline.dicom.deid.cohort import DeidSettings, SeriesJob, SeriesSource
from pipeline.dicom.deid.dates import shift_dt
from pipeline.dicom.deid.pseudonyms import (
    DEMO_KEY,
    DEMO_KEY_ID,
    KEY_ENV_VAR,
    KeySource,
    Pseudonymizer,
    load_key,
)
from pipeline.errors import DeidentificationError
from pipeline.synth.marker import write_marker


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
    source = load_key(None, synthetic=False)
    assert source.kind == "env" and source.load() == b"a-long-enough-secret-key"


def test_key_file_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV_VAR, "a-long-enough-secret-key")
    (tmp_path / "key").write_bytes(b"file-secret-0123456789\n")
    source = load_key(tmp_path / "key", synthetic=False)
    assert source.kind == "file" and source.load() == b"file-secret-0123456789"


def test_no_key_outside_synthetic_mode_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    with pytest.raises(DeidentificationError, match=KEY_ENV_VAR):
        load_key(None, synthetic=False)


def synthetic_cohort(root: Path) -> Path:
    """A folder laid out as synthesize writes it: dicom/ and the marker beside it."""
    (root / "dicom" / "p1").mkdir(parents=True)
    (root / "dicom" / "p1" / "0001.dcm").write_bytes(b"slice one")
    (root / "dicom" / "p1" / "0002.dcm").write_bytes(b"slice two")
    write_marker(root)
    return root / "dicom"


def test_demo_key_only_on_the_unmodified_synthetic_cohort(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    dicom = synthetic_cohort(tmp_path / "synthetic")
    source = load_key(None, synthetic=True, input_dir=dicom)
    assert source.kind == "demo" and source.load() == DEMO_KEY and source.key_id == DEMO_KEY_ID
    assert "demo key" in caplog.text
    (dicom / "p1" / "0002.dcm").write_bytes(b"a real patient")  # one file replaced
    with pytest.raises(DeidentificationError, match="synthetic-cohort.json"):
        load_key(None, synthetic=True, input_dir=dicom)


def test_demo_key_refused_on_a_folder_given_by_hand(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    dicom = synthetic_cohort(tmp_path / "synthetic")
    (dicom / "p1" / "extra.dcm").write_bytes(b"added by hand")
    for folder in (dicom, tmp_path / "synthetic", tmp_path):
        with pytest.raises(DeidentificationError, match=KEY_ENV_VAR):
            load_key(None, synthetic=True, input_dir=folder)
    with pytest.raises(DeidentificationError):
        load_key(None, synthetic=True)


def test_short_key_is_rejected(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "short")
    with pytest.raises(DeidentificationError, match="too short"):
        load_key(None, synthetic=True)


def test_key_stays_out_of_pickled_tasks_and_reprs(monkeypatch, tmp_path):
    secret = "secret-key-that-must-not-travel"
    monkeypatch.setenv(KEY_ENV_VAR, secret)
    settings = DeidSettings.from_params(anonymize_params(), load_key(None))
    job = SeriesJob(SeriesSource("1.2.3", ("a.dcm",)), str(tmp_path), str(tmp_path), settings)
    payload = pickle.dumps(job)
    assert secret.encode() not in payload and secret not in repr(job)
    ps = settings.pseudonymizer()
    assert secret not in repr(ps)
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(ps)
    assert pickle.loads(payload).settings.pseudonymizer().uid("1.2.3") == ps.uid("1.2.3")


def test_worker_with_another_key_refuses_to_run(monkeypatch):
    monkeypatch.setenv(KEY_ENV_VAR, "the-key-the-stage-started-with")
    source = load_key(None)
    monkeypatch.setenv(KEY_ENV_VAR, "another-key-on-this-worker!!")
    with pytest.raises(DeidentificationError, match="differs"):
        KeySource(source.kind, source.path, source.fingerprint + "0").load()
