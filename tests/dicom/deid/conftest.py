"""A PHI-laden DICOM corpus built in tmp_path, and de-identification settings with a test key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)

from pipeline.dicom.deid.cohort import DeidSettings
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.dicom.deid.pseudonyms import KEY_ENV_VAR, KeySource, key_fingerprint
from pipeline.imaging.geometry import Geometry
from pipeline.synth.dicom_writer import (
    PatientIdentity,
    SeriesUIDs,
    build_slice_dataset,
    save_dataset,
    stored_values,
)

TEST_KEY = b"test-key-0123456789abcdef-not-secret"

IDENTITY = PatientIdentity(
    patient_name="Müller^Hans^Peter", patient_id="PID4711999", birth_date="19580317", sex="M",
    age="066Y", accession_number="ACC20240115X", study_date="20240115", study_time="093012",
    institution_name="Sankt Zebulon Klinikum", institution_address="Quellgasse 17^^Zellbach",
    referring_physician="Oberarzt^Gwendolin", performing_physician="Radlinger^Xaver",
    operator_name="Technik^Fridolin", station_name="ZEBCT07", device_serial="SNX8842177",
    other_patient_ids=("OTHERID5521",))

# Identifying strings the corpus carries, in the spellings a leak could take.
PHI_STRINGS = ("Müller", "MÜLLER", "Hans", "Peter", "PID4711999", "19580317", "ACC20240115X",
               "20240115", "Sankt Zebulon", "Quellgasse", "Gwendolin", "Radlinger", "Fridolin",
               "ZEBCT07", "SNX8842177", "OTHERID5521", "Wilhelmina", "PRIVNOTE8812",
               "OVERLAYNOTE", "CURVENOTE")


def anonymize_params(**overrides: object) -> AnonymizeParams:
    """The repository's default anonymize section, with ``overrides``."""
    base = AnonymizeParams(key_id="test", uid_root="2.25", retain_longitudinal_modified_dates=True,
                           max_date_shift_days=365, retain_patient_characteristics=False,
                           retain_device_identity=False, retain_safe_private=(), jobs=1)
    return replace(base, **overrides)  # type: ignore[arg-type]


def file_key(folder: Path, key: bytes) -> KeySource:
    """A key file under ``folder`` holding ``key``, as the stage's --key-file would give it."""
    path = folder / "deid.key"
    path.write_bytes(key)
    return KeySource("file", str(path), key_fingerprint(key))


@pytest.fixture
def env_key(monkeypatch) -> KeySource:
    """The test key in $PIPELINE_DEID_KEY (inherited by pool workers), as its source."""
    monkeypatch.setenv(KEY_ENV_VAR, TEST_KEY.decode())
    return KeySource("env", "", key_fingerprint(TEST_KEY))


@pytest.fixture
def settings(env_key) -> DeidSettings:
    return DeidSettings.from_params(anonymize_params(), env_key)


def add_phi_extras(ds: Dataset, referenced_sop_uid: str) -> None:
    """Identity in places a naive anonymizer misses, plus a reference to another instance."""
    ds.file_meta.SourceApplicationEntityTitle = "ZEBCT07"
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = referenced_sop_uid
    ds.ReferencedInstanceSequence = Sequence([ref])  # (0008,114A): not in Table E.1-1
    person = Dataset()
    person.PersonName = "Wilhelmina^Zorn"  # PN in a sequence not listed in the table
    person.CodeMeaning = "Consulting physician"
    ds.ContentSequence = Sequence([person])
    ds.AdditionalPatientHistory = "Patient Müller, see PID4711999"
    ds.add_new(0x60000010, "US", 16)  # overlay rows
    ds.add_new(0x60004000, "LT", "OVERLAYNOTE Müller")
    ds.add_new(0x50000005, "US", 1)  # curve
    ds.add_new(0x50002500, "LO", "CURVENOTE")
    block = ds.private_block(0x0029, "ZEB PRIVATE NOTES", create=True)
    block.add_new(0x01, "LO", "PRIVNOTE8812")
    inner = Dataset()
    inner.private_block(0x0031, "ZEB PRIVATE NOTES", create=True).add_new(0x01, "PN", "Müller^H")
    block.add_new(0x02, "SQ", Sequence([inner]))


def save_any(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    """:func:`save_dataset`, plus Deflated Explicit VR LE and Explicit VR Big Endian (pixel
    words written big endian, as such a file holds them)."""
    if transfer_syntax == ExplicitVRBigEndian:
        words = np.frombuffer(ds.PixelData, dtype="<u2")
        ds.PixelData = words.astype(">u2").tobytes()
    if transfer_syntax in (ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    else:
        save_dataset(ds, path, transfer_syntax)


def write_phi_series(folder: Path, n: int = 3, identity: PatientIdentity = IDENTITY,
                     transfer_syntax: str = ExplicitVRLittleEndian, burned_in: str | None = None,
                     size: int = 8, mutate: Callable[[int, Dataset], None] | None = None,
                     uids: SeriesUIDs | None = None) -> list[Path]:
    """Write a tiny CT series full of identity under ``folder`` (file names carry identity too);
    ``mutate(k, ds)`` edits slice ``k`` before it is saved."""
    uids = uids or SeriesUIDs(generate_uid(), generate_uid(), generate_uid(),
                              tuple(generate_uid() for _ in range(n)))
    geometry = Geometry(origin=(-10.5, 20.25, -30.0), spacing=(0.7, 0.7, 2.5))
    rng = np.random.default_rng(n)
    volume = stored_values(rng.normal(0, 200, (n, size, size)))
    paths = []
    for k in range(n):
        ds = build_slice_dataset(volume[k], k, geometry, identity, uids)
        add_phi_extras(ds, uids.sop_instance_uids[0])
        if burned_in is not None:
            ds.BurnedInAnnotation = burned_in
        if mutate is not None:
            mutate(k, ds)
        path = folder / f"{identity.patient_id}_{identity.study_date}" / f"IM_{k:03d}.dcm"
        save_any(ds, path, transfer_syntax)
        paths.append(path)
    return paths


@pytest.fixture
def phi_folder(tmp_path: Path) -> Path:
    """A folder named after the patient holding one PHI-laden series."""
    root = tmp_path / "in" / "Müller_Hans"
    write_phi_series(root)
    return tmp_path / "in"
