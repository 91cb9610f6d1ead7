"""Images that may show identity in their pixels: quarantined, never passed on.

Attribute de-identification cannot remove text burned into pixels (PS3.15 E.1.1 item 5, "Clean
Pixel Data" option not implemented). So an image is quarantined when Burned In Annotation
(0028,0301) says YES, or when it is of a kind that often carries burned-in text: Secondary
Capture SOP classes (PS3.4 B.5), ImageType (0008,0008) with SCREEN SAVE, ImageType SECONDARY with
Modality OT or SC, and ultrasound not explicitly marked Burned In Annotation NO.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from pipeline.dicom.deid.values import first_text, strings_of

SECONDARY_CAPTURE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
})
ULTRASOUND_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.6.2", "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3",
})
BURNED_IN, SOP_CLASS, IMAGE_TYPE, MODALITY = 0x00280301, 0x00080016, 0x00080008, 0x00080060


def burned_in_reason(ds: Dataset) -> str | None:
    """Why ``ds`` may carry burned-in identity, or None. The reason names attributes, not values
    that could identify anyone."""
    flag = first_text(ds, BURNED_IN).upper()
    if flag == "YES":
        return "BurnedInAnnotation=YES"
    sop_class = first_text(ds, SOP_CLASS)
    modality = first_text(ds, MODALITY).upper()
    image_type = [v.upper() for v in strings_of(ds.get_item(IMAGE_TYPE))] if IMAGE_TYPE in ds \
        else []
    if sop_class in SECONDARY_CAPTURE_CLASSES:
        return "secondary capture SOP class (burned-in text likely)"
    if "SCREEN SAVE" in image_type:
        return "ImageType SCREEN SAVE (burned-in text likely)"
    if "SECONDARY" in image_type and modality in {"OT", "SC"}:
        return f"ImageType SECONDARY with Modality {modality} (burned-in text likely)"
    if (modality == "US" or sop_class in ULTRASOUND_CLASSES) and flag != "NO":
        return "ultrasound without BurnedInAnnotation=NO"
    return None
