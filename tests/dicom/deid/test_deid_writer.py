"""The fast writer produces exactly the bytes pydicom's own ``save_as`` writes."""

from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from conftest import write_phi_series
from pipeline.dicom.deid import writer
from pipeline.dicom.deid.actions import new_file_meta


def _save_as_bytes(ds: pydicom.Dataset) -> bytes:
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless])
def test_encode_file_matches_save_as_for_kept_and_replaced_elements(tmp_path: Path, syntax: str):
    path = write_phi_series(tmp_path / "in", n=1, transfer_syntax=syntax)[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ds.file_meta = new_file_meta(ds, syntax)       # as the anonymizer writes it
    ds.PatientName = "PAT-0123456789AB"            # a replaced element among raw, kept ones
    del ds.RequestAttributesSequence[0].RequestedProcedureID  # an edited nested item
    # the fast path itself (encode_file falls back to save_as on cases it does not mirror)
    assert writer._encode_fast(ds, None) == _save_as_bytes(ds)
    assert writer.encode_file(ds) == _save_as_bytes(ds)
