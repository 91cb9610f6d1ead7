"""Read element values without pydicom's per-element conversion (the de-identification hot path).

Datasets read from disk hold ``RawDataElement`` bytes until an element is accessed; converting
every element costs more than reading and writing the file. These helpers decode only what a rule
needs, straight from the raw bytes, and fall back to the converted value for in-memory datasets.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from pipeline.dicom.deid.profile import vr_of

PADDING = " \0"


def element_vr(elem: Any, tag: int) -> str:
    """The VR of an element: explicit from the file, else the dictionary's (``UN`` if unknown)."""
    vr = elem.VR
    if vr and len(vr) == 2:
        return str(vr)
    return vr_of(tag)


def text_of(elem: Any, codec: str = "latin-1") -> str:
    """The whole value as text (multi-values joined by ``\\``), padding stripped."""
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(codec, errors="replace").strip(PADDING)
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value).strip(PADDING)
    return str(value).strip(PADDING)


def strings_of(elem: Any, codec: str = "latin-1") -> list[str]:
    """The values of a string element (split on ``\\``), padding stripped, empties dropped."""
    text = text_of(elem, codec)
    return [v.strip(PADDING) for v in text.split("\\") if v.strip(PADDING)] if text else []


def first_text(ds: Dataset, tag: int) -> str:
    """First value of ``tag`` in ``ds`` as text (``""`` when absent or empty)."""
    if tag not in ds:
        return ""
    values = strings_of(ds.get_item(tag))
    return values[0] if values else ""


def python_codecs(ds: Dataset) -> list[str]:
    """Python codecs of the dataset's SpecificCharacterSet (0008,0005) (PS3.5 6.1), latin-1
    and utf-8 always included as a fall-back."""
    from pydicom.charset import convert_encodings

    terms = strings_of(ds.get_item(0x00080005)) if 0x00080005 in ds else []
    try:
        codecs = list(convert_encodings(terms or ["ISO_IR 6"]))
    except (LookupError, ValueError):
        codecs = []
    return list(dict.fromkeys([*codecs, "utf-8", "latin-1"]))


def decode_text(elem: Any, codecs: list[str]) -> str:
    """Decode a text element with the first codec that works (raw bytes), else its value."""
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        for codec in codecs:
            try:
                return bytes(value).decode(codec).strip(PADDING)
            except (UnicodeDecodeError, LookupError):
                continue
        return bytes(value).decode("latin-1").strip(PADDING)
    return text_of(elem)
