"""Inputs built to fool the de-identifier: each must be cleaned or its series quarantined whole."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)

from conftest import IDENTITY, PHI_STRINGS, write_phi_series
from pipeline.dicom.deid.cohort import (
    CohortReport,
    DeidSettings,
    anonymize_cohort,
    group_folder,
)
from pipeline.dicom.deid.values import fold
from pipeline.dicom.deid.verify import IdentifierCollector, build_matcher
from pipeline.parallel import ExecutorParams
from pipeline.synth.dicom_writer import SeriesUIDs

GREEK = replace(IDENTITY, patient_name="Παπαδόπουλος^Γιώργος", patient_id="GR55443322")


def run(settings: DeidSettings, root: Path, out: Path) -> CohortReport:
    executor = ExecutorParams(jobs=1)
    sources, rejected, paths = group_folder(root, settings.pseudonymizer(), executor)
    out.mkdir(parents=True, exist_ok=True)
    return anonymize_cohort(sources, root, out, settings, executor, rejected, paths)


def outputs(out: Path) -> list[Path]:
    return sorted((out / "dicom").rglob("*.dcm"))


def folded_text(path: Path) -> str:
    """Every byte and every decoded value of a file, folded (case, accents)."""
    ds = pydicom.dcmread(path)
    parts = [path.read_bytes()[:-len(ds.PixelData)].decode("latin-1")]
    for dset in (ds.file_meta, ds):
        for elem in dset.iterall():
            if elem.tag != 0x7FE00010 and elem.VR != "SQ":
                value = elem.value
                parts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return fold("\n".join(parts))


def test_identity_copied_into_kept_attributes_is_removed(settings, tmp_path):
    def copy_identity(k: int, ds: Dataset) -> None:
        ds.ConvolutionKernel = IDENTITY.patient_id
        ds.SoftwareVersions = f"V2 {IDENTITY.other_patient_ids[0]}"
        ds.WindowCenterWidthExplanation = "Hans Peter Müller"
        ds.Manufacturer = "müller"

    write_phi_series(tmp_path / "in", mutate=copy_identity)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and report.files_written == 3
    for path in outputs(tmp_path / "out"):
        ds = pydicom.dcmread(path)
        for kw in ("ConvolutionKernel", "SoftwareVersions", "WindowCenterWidthExplanation",
                   "Manufacturer"):
            assert not ds[kw].value, kw
        text = folded_text(path)
        for phi in (*PHI_STRINGS, "mueller"):
            assert fold(phi) not in text, phi


def test_identity_first_seen_in_a_later_slice_is_removed_from_earlier_ones(settings, tmp_path):
    def late_identity(k: int, ds: Dataset) -> None:
        ds.SoftwareVersions = "LATEID778899"
        if k == 2:
            other = Dataset()
            other.PatientID = "LATEID778899"
            ds.OtherPatientIDsSequence = Sequence([other])

    write_phi_series(tmp_path / "in", mutate=late_identity)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == []
    assert all(not pydicom.dcmread(p).SoftwareVersions for p in outputs(tmp_path / "out"))


def test_verifier_finds_kept_identity_whatever_attribute_holds_it(settings, phi_folder, tmp_path,
                                                                  monkeypatch):
    from pipeline.dicom.deid.actions import DeidContext

    monkeypatch.setattr(DeidContext, "carries_identity", lambda self, elem, vr: False)

    def copy_identity(k: int, ds: Dataset) -> None:
        ds.ConvolutionKernel = IDENTITY.patient_id
        ds.BodyPartExamined = "CHEST"

    write_phi_series(tmp_path / "in", mutate=copy_identity)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert len(report.leaks) == 3
    assert all("(0018,1210)" in where for _, where in report.leaks)


def test_greek_name_in_un_elements_is_removed_and_would_be_found(settings, tmp_path):
    def greek(k: int, ds: Dataset) -> None:
        ds.SpecificCharacterSet = "ISO_IR 126"
        ds.add_new(0x00431029, "UN", "ΠΑΠΑΔΟΠΟΥΛΟΣ".encode("iso8859_7"))  # unknown tag, UN
        ds.add_new(0x00091010, "LO", "ZEB")  # private creator
        ds.add_new(0x00091001, "UN", "γιωργος παπαδοπουλος".encode("iso8859_7"))

    write_phi_series(tmp_path / "in", identity=GREEK, mutate=greek)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and report.files_written == 3
    for path in outputs(tmp_path / "out"):
        ds = pydicom.dcmread(path)
        assert 0x00431029 not in ds and not any(e.tag.group == 0x0009 for e in ds)
        assert "παπαδοπουλοσ" not in folded_text(path) and "γιωργοσ" not in folded_text(path)


def test_matching_folds_unicode_case_and_accents(settings):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 126"
    ds.PatientName = "Παπαδόπουλος^Γιώργος"
    collector = IdentifierCollector(settings.spec)
    collector.add_file(ds, "a.dcm")
    matcher = build_matcher(collector.identifiers, collector.kept, collector.codecs,
                            strong=collector.strong)
    for text in ("ΠΑΠΑΔΟΠΟΥΛΟΣ", "papa παπαδοπουλος", "ΓΙΩΡΓΟΣ", "Γιώργος"):
        assert matcher.find_text(text), text
    assert matcher.find("ΠΑΠΑΔΟΠΟΥΛΟΣ".encode("iso8859_7"))
    assert not matcher.find_text("ΘΩΡΑΚΑΣ")


def test_identity_in_the_preamble_is_zeroed(settings, tmp_path):
    paths = write_phi_series(tmp_path / "in")
    for path in paths:
        data = bytearray(path.read_bytes())
        data[:128] = b"Mueller Hans PID4711999".ljust(128, b"\0")
        path.write_bytes(bytes(data))
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and report.files_written == 3
    assert all(p.read_bytes()[:128] == b"\0" * 128 for p in outputs(tmp_path / "out"))


def test_trailing_bytes_and_padding_are_dropped_and_the_series_written(settings, tmp_path):
    paths = write_phi_series(tmp_path / "in")
    for path in paths:
        padding = b"\xfc\xff\xfc\xffOB\0\0\x08\0\0\0Mueller!"
        path.write_bytes(path.read_bytes() + padding + "\x08\x00 JUNK Müller".encode())
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and report.files_written == 3 and report.quarantine.empty
    for src, dst in zip(paths, outputs(tmp_path / "out"), strict=True):
        ds = pydicom.dcmread(dst)
        assert list(ds.keys())[-1] == 0x7FE00010
        assert ds.PixelData == pydicom.dcmread(src).PixelData
        assert b"Mueller" not in dst.read_bytes() and b"JUNK" not in dst.read_bytes()


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_deflated_and_big_endian_are_written_as_explicit_little_endian(settings, tmp_path,
                                                                       syntax):
    inputs = write_phi_series(tmp_path / "in", transfer_syntax=syntax)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and report.files_written == 3 and report.quarantine.empty
    for src, dst in zip(inputs, outputs(tmp_path / "out"), strict=True):
        a, b = pydicom.dcmread(src), pydicom.dcmread(dst)
        assert a.file_meta.TransferSyntaxUID == syntax
        assert b.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert np.array_equal(a.pixel_array, b.pixel_array)
        for kw in ("ImagePositionPatient", "PixelSpacing", "RescaleIntercept", "Rows",
                   "BitsAllocated"):
            assert a.get(kw) == b.get(kw), kw
        assert fold(IDENTITY.patient_id) not in folded_text(dst)


def test_structured_report_is_quarantined_with_reason(settings, tmp_path):
    def as_sr(k: int, ds: Dataset) -> None:
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        item = Dataset()
        item.TextValue = "Findings for Hans Müller"
        ds.ContentSequence = Sequence([item])

    write_phi_series(tmp_path / "in", mutate=as_sr)
    write_phi_series(tmp_path / "in" / "ok")
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert len(report.series) == 1 and report.files_quarantined == 3
    (item, reason), = report.quarantine.itertuples(index=False)
    assert item.startswith("series:2.25.") and reason.startswith("unusable slice: structured")


def test_references_between_series_are_remapped_consistently(settings, tmp_path):
    n = 3
    a_uids = SeriesUIDs(generate_uid(), generate_uid(), generate_uid(),
                        tuple(generate_uid() for _ in range(n)))
    write_phi_series(tmp_path / "in" / "a", uids=a_uids)

    def refer(k: int, ds: Dataset) -> None:
        image = Dataset()
        image.ReferencedSOPClassUID = ds.SOPClassUID
        image.ReferencedSOPInstanceUID = a_uids.sop_instance_uids[k]
        ds.ReferencedImageSequence = Sequence([image])
        source = Dataset()
        source.ReferencedSOPClassUID = ds.SOPClassUID
        source.ReferencedSOPInstanceUID = a_uids.sop_instance_uids[0]
        ds.SourceImageSequence = Sequence([source])
        series = Dataset()
        series.SeriesInstanceUID = a_uids.series_uid
        series.ReferencedInstanceSequence = Sequence([image])
        ds.ReferencedSeriesSequence = Sequence([series])

    b_uids = replace(a_uids, series_uid=generate_uid(),
                     sop_instance_uids=tuple(generate_uid() for _ in range(n)))
    write_phi_series(tmp_path / "in" / "b", uids=b_uids, mutate=refer)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert report.leaks == [] and len(report.series) == 2
    new_a = report.uid_map[a_uids.series_uid]
    new_b = report.uid_map[b_uids.series_uid]
    a_files = [pydicom.dcmread(p) for p in sorted((tmp_path / "out/dicom" / new_a).iterdir())]
    a_sops = [ds.SOPInstanceUID for ds in a_files]
    for ds in (pydicom.dcmread(p) for p in sorted((tmp_path / "out/dicom" / new_b).iterdir())):
        assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID in a_sops
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == a_sops[0]
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == new_a
        assert (ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
                .ReferencedSOPInstanceUID in a_sops)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def _absurd_rows(path: Path) -> None:
    ds = pydicom.dcmread(path)
    ds.Rows = 4096
    ds.save_as(path)


def _no_pixels(path: Path) -> None:
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)


@pytest.mark.parametrize("damage, category", [
    (_truncate, "truncated pixel data"), (_absurd_rows, "truncated pixel data"),
    (_no_pixels, "truncated pixel data")])
def test_plain_mode_bad_slice_quarantines_its_whole_series(settings, tmp_path, damage, category):
    bad = write_phi_series(tmp_path / "in" / "bad")
    write_phi_series(tmp_path / "in" / "good")
    damage(bad[1])
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert len(report.series) == 1 and report.files_written == 3
    (item, reason), = report.quarantine.itertuples(index=False)
    assert reason.startswith(f"unusable slice: {category}") and "file 1" in reason
    paths = report.quarantine_paths
    assert set(paths["item"]) == {item} and len(paths) == 3


def test_one_odd_file_quarantines_its_series_and_never_stops_the_cohort(settings, tmp_path,
                                                                        monkeypatch):
    from pipeline.dicom.deid import cohort

    write_phi_series(tmp_path / "in" / "a")
    write_phi_series(tmp_path / "in" / "b")
    real = cohort.serialize
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise TypeError("encoding without a string argument")
        return real(*args, **kwargs)

    monkeypatch.setattr(cohort, "serialize", fails_once)
    report = run(settings, tmp_path / "in", tmp_path / "out")
    assert len(report.series) == 1 and report.files_written == 3
    (item, reason), = report.quarantine.itertuples(index=False)
    assert reason == "could not be de-identified: file 1 of the series (TypeError)"
    assert not (tmp_path / "out" / "dicom" / item.split(":")[1]).exists()
