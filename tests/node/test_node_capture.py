"""A Secondary Capture of a findings picture: in the scan's study, same pixels, stable UIDs."""

from __future__ import annotations

import numpy as np
import pydicom
from node_helpers import write_series
from PIL import Image

from pipeline.node.capture import secondary_capture


def test_picture_becomes_an_rgb_secondary_capture_in_the_scans_study(tmp_path):
    series = write_series(tmp_path / "s")
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[5:10, 10:20] = (255, 0, 0)
    png = tmp_path / "findings.png"
    Image.fromarray(rgb).save(png)
    out = secondary_capture(png, series.files[0], tmp_path / "sc" / "sc_1.dcm")
    sc = pydicom.dcmread(out)
    ref = pydicom.dcmread(series.files[0])
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert (sc.StudyInstanceUID, sc.PatientID) == (ref.StudyInstanceUID, ref.PatientID)
    assert sc.SeriesInstanceUID != ref.SeriesInstanceUID
    assert sc.PhotometricInterpretation == "RGB"
    assert np.array_equal(sc.pixel_array, rgb)
    again = pydicom.dcmread(secondary_capture(png, series.files[0], tmp_path / "again.dcm"))
    assert (again.SOPInstanceUID, again.SeriesInstanceUID) == (sc.SOPInstanceUID,
                                                              sc.SeriesInstanceUID)
