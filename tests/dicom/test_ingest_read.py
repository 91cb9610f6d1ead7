"""Per-file checks: bad files become rejected rows with a reason, never a crash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.uid import (
    EnhancedCTImageStorage,
    ImplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from pipeline.dicom.params import IngestParams
from pipeline.dicom.read import read_header, sop_class_reason, transfer_syntax_reason
from pipeline.dicom.scan import scan_folder
from pipeline.parallel import ExecutorParams

PARAMS = IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                      allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)


def _reasons(root: Path) -> dict[str, str]:
    rejected = scan_folder(root, PARAMS, ExecutorParams(jobs=1)).rejected
    return dict(zip(rejected["path"], rejected["reason"], strict=True))


def test_non_dicom_and_empty_files_are_rejected_and_the_series_kept(tmp_path, make_ct_series):
    make_ct_series(tmp_path / "ct")
    (tmp_path / "ct" / "README.txt").write_text("exported by PACS")
    (tmp_path / "ct" / "empty").write_bytes(b"")
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 3)
    result = scan_folder(tmp_path, PARAMS, ExecutorParams(jobs=1))
    reasons = dict(zip(result.rejected["path"], result.rejected["reason"], strict=True))
    assert reasons["ct/README.txt"].startswith("not DICOM:")
    assert reasons["random.bin"].startswith("not DICOM:")
    assert reasons["ct/empty"] == "empty file: 0 bytes"
    assert result.series.iloc[0]["n_slices"] == 8


def test_truncated_pixel_data_is_detected_without_reading_pixels(tmp_path, make_ct_series):
    path = make_ct_series(tmp_path, n=1)[0]
    path.write_bytes(path.read_bytes()[:-100])
    reason = read_header(tmp_path, path.name).reason
    assert reason.startswith("truncated pixel data: Pixel Data declares 512 bytes")


def test_truncated_compressed_pixel_data_is_detected(tmp_path, make_ct_series):
    path = make_ct_series(tmp_path, n=1, transfer_syntax=RLELossless)[0]
    path.write_bytes(path.read_bytes()[:-30])
    assert read_header(tmp_path, path.name).reason.startswith("truncated pixel data:")


def test_file_cut_inside_the_header_is_rejected(tmp_path, make_ct_series):
    path = make_ct_series(tmp_path, n=1, transfer_syntax=ImplicitVRLittleEndian)[0]
    data = path.read_bytes()
    for cut in (10, 140, 600, len(data) // 2):
        path.write_bytes(data[:cut])
        assert read_header(tmp_path, path.name).reason, f"cut at {cut} bytes not detected"


def test_truncated_slice_rejects_its_file_and_then_its_series(tmp_path, make_ct_series):
    paths = make_ct_series(tmp_path)
    paths[4].write_bytes(paths[4].read_bytes()[:-10])
    reasons = _reasons(tmp_path)
    assert reasons[paths[4].name].startswith("truncated pixel data:")
    assert reasons[""].startswith("missing slice(s):")


def test_localizer_is_left_out_with_reason_and_series_kept(tmp_path, make_ct_series,
                                                          edit_headers):
    make_ct_series(tmp_path / "axial")
    scout = make_ct_series(tmp_path / "scout", n=1)
    edit_headers(scout, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    result = scan_folder(tmp_path, PARAMS, ExecutorParams(jobs=1))
    assert len(result.series) == 1
    assert result.rejected.iloc[0]["reason"].startswith("localizer/scout image:")


def test_secondary_capture_is_left_out_with_reason(tmp_path, make_ct_series, edit_headers):
    edit_headers(make_ct_series(tmp_path, n=1), SOPClassUID=SecondaryCaptureImageStorage)
    assert _reasons(tmp_path)["f000.dcm"] == (
        "secondary capture: SOP class Secondary Capture Image Storage, not a CT image")


def test_enhanced_ct_is_rejected_as_not_supported_yet():
    assert sop_class_reason(EnhancedCTImageStorage).startswith(
        "Enhanced CT multi-frame not supported yet")
    assert sop_class_reason("1.2.840.10008.5.1.4.1.1.88.22").startswith("structured report:")
    assert sop_class_reason("1.2.840.10008.5.1.4.1.1.104.1").startswith("encapsulated document:")
    assert sop_class_reason("1.2.840.10008.5.1.4.1.1.11.1").startswith("presentation state:")
    assert sop_class_reason("1.2.840.10008.5.1.4.1.1.481.3").startswith("radiotherapy object:")


def test_dicomdir_is_left_out_with_reason(tmp_path):
    shutil.copy(pydicom.data.get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    assert _reasons(tmp_path)["DICOMDIR"].startswith("DICOMDIR:")


def test_transfer_syntax_without_decoder_is_named():
    assert transfer_syntax_reason(RLELossless) == ""
    assert transfer_syntax_reason("1.2.840.10008.1.2.4.100").startswith(
        "undecodable transfer syntax:")


def test_dataset_without_preamble_is_read(tmp_path, make_ct_series):
    path = make_ct_series(tmp_path, n=1)[0]
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    ds.save_as(path, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    header = read_header(tmp_path, path.name)
    assert header.reason == "" and header.rows == 16


def test_reasons_never_name_the_absolute_path(tmp_path, monkeypatch):
    from pipeline.dicom import read

    def fails(path, relpath):
        raise RuntimeError(f"unexpected end of data in file {path}")

    monkeypatch.setattr(read, "_read_header", fails)
    reason = read.read_header(tmp_path, "sub/file.dcm").reason
    assert reason == "unreadable DICOM header: unexpected end of data in file sub/file.dcm"
