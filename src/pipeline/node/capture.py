"""A Secondary Capture image of a findings picture, filed in the study of the scan it shows.

Radiologists' viewers show any image; not all of them render SR. A DICOM Secondary Capture (PS3.3
A.8) of the report's picture puts the findings on screen in every viewer. Its UIDs are derived
from the picture's series and name, so processing the same series twice makes the same object.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import generate_uid

SC_SERIES_NUMBER = 9902


def secondary_capture(png: Path, reference: Path, out: Path, instance_number: int = 1) -> Path:
    """Write ``png`` as an RGB Secondary Capture in the study of DICOM file ``reference``."""
    ref = pydicom.dcmread(reference, stop_before_pixels=True)
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    seed = [str(ref.SeriesInstanceUID), "secondary-capture"]
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=generate_uid(entropy_srcs=seed),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=generate_uid(entropy_srcs=[*seed, png.name]),
        instance_number=instance_number, manufacturer="lung-nodule-pipeline",
        patient_orientation=("L", "P"), transfer_syntax_uid="1.2.840.10008.1.2.1")
    sc.SeriesDescription = "Lung nodule CAD findings"
    out.parent.mkdir(parents=True, exist_ok=True)
    sc.save_as(out, enforce_file_format=True)
    return out
