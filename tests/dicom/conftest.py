"""Shared fixtures for tests/dicom: tiny synthetic CT series written with the project's writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pipeline.imaging.geometry import Geometry
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity(
    patient_name="DOE^JANE", patient_id="PAT-0001", birth_date="19610203", sex="F", age="063Y",
    accession_number="ACC00012345", study_date="20240105", study_time="101500",
    institution_name="General Hospital", institution_address="1 Main Street",
    referring_physician="REF^DOC", performing_physician="PERF^DOC", operator_name="OP^ONE",
    station_name="CTSTATION1", device_serial="SN-998877",
)

MakeSeries = Callable[..., list[Path]]


def _uids(n: int, series_uid: str | None, study_uid: str | None) -> SeriesUIDs:
    return SeriesUIDs(study_uid=study_uid or generate_uid(),
                      series_uid=series_uid or generate_uid(),
                      frame_of_reference_uid=generate_uid(),
                      sop_instance_uids=tuple(generate_uid() for _ in range(n)))


@pytest.fixture
def make_ct_series() -> MakeSeries:
    """Return ``make(folder, n=8, size=16, ...) -> paths`` writing one tiny CT series.

    Keyword arguments: ``spacing`` (x, y, z mm), ``origin``, ``direction`` (row-major 3x3),
    ``names`` (file names, default ``f{k:03d}.dcm``), ``instance_numbers``, ``series_uid``,
    ``study_uid``, ``identity``, ``transfer_syntax``; anything else goes to the writer.
    """

    def make(folder: Path, n: int = 8, size: int = 16, *,
             spacing: Sequence[float] = (0.7, 0.7, 2.5),
             origin: Sequence[float] = (-5.6, -5.6, -100.0),
             direction: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
             names: Sequence[str] | None = None,
             instance_numbers: Sequence[int] | None = None,
             series_uid: str | None = None, study_uid: str | None = None,
             identity: PatientIdentity = IDENTITY,
             transfer_syntax: str = ExplicitVRLittleEndian, **kwargs: object) -> list[Path]:
        volume = np.full((n, size, size), -800.0)
        volume[:, size // 4: size // 2, size // 4: size // 2] = 40.0
        geometry = Geometry(origin=tuple(origin), spacing=tuple(spacing),
                            direction=tuple(direction))
        names = names or [f"f{k:03d}.dcm" for k in range(n)]
        paths = [Path(folder) / name for name in names]
        return write_ct_series(volume, geometry, paths, identity,
                               _uids(n, series_uid, study_uid), transfer_syntax=transfer_syntax,
                               instance_numbers=instance_numbers, **kwargs)

    return make


@pytest.fixture
def edit_headers() -> Callable[..., None]:
    """Return ``edit(paths, **attributes)``: set DICOM attributes (by keyword) in written files."""

    def edit(paths: Sequence[Path], **attributes: object) -> None:
        for path in paths:
            ds = pydicom.dcmread(path)
            for keyword, value in attributes.items():
                setattr(ds, keyword, value)
                if keyword == "SOPClassUID":
                    ds.file_meta.MediaStorageSOPClassUID = value
            ds.save_as(path, enforce_file_format=True)

    return edit
