"""The DICOM writer: restamping a slice header gives the bytes of building it afresh."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from pipeline.imaging.geometry import Geometry
from pipeline.synth.dicom_writer import (
    SeriesUIDs,
    build_slice_dataset,
    restamp_slice,
    save_dataset,
    stored_values,
)
from pipeline.synth.identity import make_identity


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless])
def test_restamped_slice_saves_the_same_bytes_as_a_fresh_one(tmp_path, syntax):
    ident = make_identity(np.random.default_rng(5), "1234567")
    uids = SeriesUIDs("2.25.1", "2.25.2", "2.25.3", ("2.25.10", "2.25.11"))
    geo = Geometry((10.0, -20.0, 5.0), (0.7, 0.7, 2.5), (-1, 0, 0, 0, 1, 0, 0, 0, -1))
    rng = np.random.default_rng(0)
    slices = stored_values(rng.normal(-500, 300, size=(2, 8, 6)))
    first = build_slice_dataset(slices[0], 0, geo, ident, uids, instance_number=2)
    save_dataset(first, tmp_path / "first", syntax)
    save_dataset(restamp_slice(first, slices[1], 1, geo, uids, 1), tmp_path / "restamped", syntax)
    fresh = build_slice_dataset(slices[1], 1, geo, ident, uids, instance_number=1)
    save_dataset(fresh, tmp_path / "fresh", syntax)
    assert (tmp_path / "restamped").read_bytes() == (tmp_path / "fresh").read_bytes()
