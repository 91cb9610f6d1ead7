"""Ingest's part: acquisition facts from the headers, with identity typed into a field withheld."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pydicom

from pipeline.dicom.scan import ingest_metrics, scan_folder
from pipeline.fingerprint.acquisition import WITHHELD, acquisition_facts, ingest_fingerprint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_helpers import IDENTITY, write_series  # noqa: E402
from fingerprint_helpers import EXECUTOR, INGEST  # noqa: E402


def _set(files, **values):
    for f in files:
        ds = pydicom.dcmread(f)
        for k, v in values.items():
            setattr(ds, k, v)
        ds.save_as(f)


def test_facts_count_kernels_and_withhold_a_patient_id_in_the_kernel(tmp_path):
    a = write_series(tmp_path / "dicom" / "a", "1.2.826.0.1.3680043.8.498.11")
    b = write_series(tmp_path / "dicom" / "b", "1.2.826.0.1.3680043.8.498.12")
    _set(a, ConvolutionKernel="B31f", ManufacturerModelName="SOMATOM", SliceThickness="2.5")
    _set(b, ConvolutionKernel=f"LUNG {IDENTITY.patient_id}", SliceThickness="1.25")
    scan = scan_folder(tmp_path / "dicom", INGEST, EXECUTOR)
    facts = acquisition_facts(scan.series, tmp_path / "dicom")
    fp = ingest_fingerprint(facts, ingest_metrics(scan))
    assert fp["series"] == 2
    assert fp["kernels"] == {"B31f": 1, WITHHELD: 1}
    assert fp["slice_thickness_mm"]["counts"] == {"1.25": 1, "2.5": 1}
    assert fp["slice_thickness_mm"]["summary"] == {"min": 1.25, "median": 1.875, "max": 2.5}
    text = json.dumps(fp)
    for needle in (IDENTITY.patient_id, "1.2.826.0.1.3680043.8.498", "IM000", "DOE",
                   IDENTITY.study_date):
        assert needle not in text
