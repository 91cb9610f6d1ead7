"""Read the header of one DICOM file for ingest, cheaply, and say why a file cannot be used.

Only the attributes ingest needs are parsed (``specific_tags``), and reading stops before Pixel Data
(``stop_before_pixels``): a whole CT slice costs a few kB of reads. The Pixel Data element itself is
then checked without loading it: its header is parsed at the position where pydicom stopped, and
its declared length is compared with the file size and with ``Rows x Columns x SamplesPerPixel x
NumberOfFrames x BitsAllocated / 8`` (PS3.5 8.1.1, native format); encapsulated Pixel Data
(PS3.5 A.4) is walked item by item to its Sequence Delimiter, so a truncated file is found without
decoding.

Per-file decisions (each becomes a row of ``rejected.csv``; the text before ``:`` in a reason is
its category, counted in the metrics):

- empty, not DICOM, unreadable header, DICOMDIR (Media Storage Directory, PS3.10 7.2);
- SOP classes that are not CT Image Storage (PS3.4 B.5): secondary capture, structured report,
  RT objects, encapsulated documents (PDF/CDA), presentation states, other modalities;
- Enhanced CT / Legacy Converted Enhanced CT (multi-frame, PS3.3 A.38/A.70): rejected with
  "Enhanced CT multi-frame not supported yet" (the frame-level functional groups would need their
  own reader; no LIDC-IDRI series uses them);
- localizers / scouts (ImageType (0008,0008) contains LOCALIZER, PS3.3 C.8.2.1.1.1);
- missing or invalid image plane / pixel attributes (PS3.3 C.7.6.2, C.7.6.3);
- a transfer syntax no installed pixel decoder handles (pydicom + pylibjpeg plugins);
- truncated or missing Pixel Data.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag, Tag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from pipeline.errors import DicomReadError

log = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_ENHANCED_CT = {"1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2"}
# SOP class UID prefixes (PS3.4 B.5, PS3.6 Annex A) -> reason category
_SOP_FAMILIES: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.1.1.7", "secondary capture"),
    ("1.2.840.10008.5.1.4.1.1.88.", "structured report"),
    ("1.2.840.10008.5.1.4.1.1.481.", "radiotherapy object"),
    ("1.2.840.10008.5.1.4.1.1.104.", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.11.", "presentation state"),
)
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAG = 0x7FE00010
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD

HEADER_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "Modality", "ImageType", "PatientID", "StudyInstanceUID",
    "SeriesInstanceUID", "Manufacturer", "GantryDetectorTilt", "ImagePositionPatient",
    "ImageOrientationPatient", "SamplesPerPixel", "Rows", "Columns", "PixelSpacing",
    "BitsAllocated", "PixelRepresentation", "NumberOfFrames",
)
HEADER_TAGS: list[BaseTag] = [Tag(k) for k in HEADER_KEYWORDS]
# tag -> (keyword, VR) of the header values parsed from raw bytes (ASCII VRs and US)
_FAST_VR: dict[int, tuple[str, str]] = {
    int(Tag(k)): (k, dictionary_VR(k)) for k in HEADER_KEYWORDS
    if dictionary_VR(k) in ("UI", "CS", "DS", "IS", "US")
}


@dataclass(frozen=True)
class FileHeader:
    """What ingest knows about one file; ``reason`` is empty when the file is a usable CT slice.

    Positions and orientations are in the DICOM patient frame (LPS, mm). ``path`` is relative to
    the scanned folder, with ``/`` separators.
    """

    path: str
    reason: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    patient_id: str = ""
    study_uid: str = ""
    modality: str = ""
    manufacturer: str = ""
    transfer_syntax: str = ""
    orientation: tuple[float, ...] = ()
    position_mm: tuple[float, ...] = ()
    pixel_spacing_mm: tuple[float, ...] = ()
    rows: int = 0
    columns: int = 0
    bits_allocated: int = 0
    pixel_representation: int = 0
    samples_per_pixel: int = 0
    gantry_tilt_deg: float = 0.0

    @property
    def usable(self) -> bool:
        return not self.reason


def read_header(root: Path, relpath: str) -> FileHeader:
    """Read and check the header of ``root / relpath``; never raises for a bad file.

    Returns a :class:`FileHeader` whose ``reason`` says why the file cannot be used (empty when
    it is a CT Image Storage slice with a complete image plane and pixel description).
    """
    path = root / relpath
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid values are reported as reasons, not warnings
            header = _read_header(path, relpath)
    except DicomReadError as exc:
        header = FileHeader(path=relpath, reason=str(exc))
    except OSError as exc:
        header = FileHeader(path=relpath, reason=f"unreadable file: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - a per-file failure must never stop a scan
        log.debug("unexpected error reading %s", relpath, exc_info=True)
        header = FileHeader(path=relpath, reason=f"unreadable DICOM header: {_short(exc)}")
    if str(path) in header.reason:  # never write this machine's absolute paths into a table
        header = dataclasses.replace(header, reason=header.reason.replace(str(path), relpath))
    return header


def _read_header(path: Path, relpath: str) -> FileHeader:
    size = path.stat().st_size
    if size == 0:
        raise DicomReadError("empty file: 0 bytes")
    with open(path, "rb") as fp:
        force = _looks_like_dataset_without_preamble(fp)
        ds, stop_offset = _dcmread_header(fp, force)
        ts = _transfer_syntax(ds)
        values = header_values(ds)
        series_uid = _text(values, "SeriesInstanceUID")
        meta_class = str(getattr(ds.file_meta, "MediaStorageSOPClassUID", "") or "")
        sop_class = _text(values, "SOPClassUID") or meta_class

        def reject(reason: str) -> FileHeader:
            return FileHeader(path=relpath, series_uid=series_uid, sop_class_uid=sop_class,
                              reason=reason)

        if meta_class == MEDIA_STORAGE_DIRECTORY:
            return reject("DICOMDIR: a media directory index, not an image (files are found by "
                          "scanning the folder)")
        if not sop_class:
            raise DicomReadError("not DICOM: no SOP Class UID in the header")
        reason = sop_class_reason(sop_class)
        if reason:
            return reject(reason)
        if "LOCALIZER" in [str(v).strip().upper() for v in values.get("ImageType", [])]:
            return reject("localizer/scout image: ImageType contains LOCALIZER")
        deflated = ts == DeflatedExplicitVRLittleEndian  # offsets refer to the inflated stream
        if stop_offset >= size and not deflated:
            return reject("truncated pixel data: the file ends before the Pixel Data element")
        if not series_uid:
            return reject("missing attribute: SeriesInstanceUID")
        header = _image_header(values, relpath, series_uid, sop_class, ts)
        if header.reason:
            return header
        reason = transfer_syntax_reason(ts)
        if not reason and not deflated:
            frames = _int(values, "NumberOfFrames", default=1) or 1
            expected = expected_pixel_bytes(header.rows, header.columns, header.samples_per_pixel,
                                            frames, header.bits_allocated)
            reason = pixel_data_reason(fp, stop_offset, size, ds.original_encoding, expected)
        return reject(reason) if reason else header


def sop_class_reason(sop_class_uid: str) -> str:
    """Why a file of this SOP class is left out, or ``""`` for CT Image Storage (PS3.4 B.5)."""
    if sop_class_uid == CT_IMAGE_STORAGE:
        return ""
    if sop_class_uid in _ENHANCED_CT:
        return (f"Enhanced CT multi-frame not supported yet: SOP class "
                f"{UID(sop_class_uid).name}")
    for prefix, category in _SOP_FAMILIES:
        if sop_class_uid == prefix.rstrip(".") or sop_class_uid.startswith(prefix):
            return f"{category}: SOP class {UID(sop_class_uid).name}, not a CT image"
    return f"not a CT image: SOP class {UID(sop_class_uid).name}"


@functools.lru_cache(maxsize=64)
def transfer_syntax_reason(transfer_syntax_uid: str) -> str:
    """``""`` when an installed pixel decoder (pydicom + pylibjpeg plugins) handles the syntax."""
    from pydicom.pixels.decoders.base import get_decoder

    try:
        decoder = get_decoder(transfer_syntax_uid)
    except NotImplementedError:
        return f"undecodable transfer syntax: {UID(transfer_syntax_uid).name} has no decoder"
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin available"
        return (f"undecodable transfer syntax: {UID(transfer_syntax_uid).name} needs a plugin "
                f"that is not installed ({missing})")
    return ""


def expected_pixel_bytes(rows: int, columns: int, samples_per_pixel: int, frames: int,
                         bits_allocated: int) -> int:
    """Bytes of native (uncompressed) Pixel Data, PS3.5 8.1.1 (bit-packed when 1 bit)."""
    return (rows * columns * max(samples_per_pixel, 1) * frames * bits_allocated + 7) // 8


def pixel_data_reason(fp: BinaryIO, offset: int, file_size: int,
                      encoding: tuple[bool | None, bool | None], expected_bytes: int) -> str:
    """Check the Pixel Data element starting at ``offset`` without reading its value.

    Native data must hold ``expected_bytes`` (see :func:`expected_pixel_bytes`) and fit in the
    file; encapsulated data (PS3.5 A.4) must reach its Sequence Delimiter before the end of the
    file. ``encoding`` is the data set's ``(is_implicit_VR, is_little_endian)``. Returns ``""``
    when complete, else the reason.
    """
    implicit, little = encoding
    end = "<" if little is not False else ">"
    fp.seek(offset)
    head = fp.read(8)
    if len(head) < 8:
        return "truncated pixel data: the file ends before the Pixel Data element"
    group, elem = struct.unpack(f"{end}HH", head[:4])
    if (group << 16 | elem) != PIXEL_DATA_TAG:
        return (f"no pixel data: expected (7FE0,0010) after the header, found "
                f"({group:04X},{elem:04X})")
    if implicit:
        (length,) = struct.unpack(f"{end}L", head[4:8])
    else:
        vr = head[4:6]
        if vr in (b"OB", b"OW", b"UN", b"OV"):
            extra = fp.read(4)
            if len(extra) < 4:
                return "truncated pixel data: the file ends inside the Pixel Data element header"
            (length,) = struct.unpack(f"{end}L", extra)
        else:
            (length,) = struct.unpack(f"{end}H", head[6:8])
    start = fp.tell()
    if length == UNDEFINED_LENGTH:
        return _encapsulated_reason(fp, start, file_size, end)
    remaining = file_size - start
    if length > remaining:
        return (f"truncated pixel data: Pixel Data declares {length} bytes but the file holds "
                f"only {remaining}")
    if length < expected_bytes:
        return (f"truncated pixel data: {length} bytes, expected {expected_bytes} for the "
                "declared Rows, Columns, SamplesPerPixel, NumberOfFrames and BitsAllocated")
    if length > expected_bytes + 1:  # + 1: the pad byte of an odd length (PS3.5 8.1.1)
        return (f"invalid pixel module: Pixel Data holds {length} bytes, but the declared Rows, "
                f"Columns, SamplesPerPixel, NumberOfFrames and BitsAllocated give "
                f"{expected_bytes}")
    return ""


def _encapsulated_reason(fp: BinaryIO, start: int, file_size: int, end: str) -> str:
    pos = start
    while True:
        fp.seek(pos)
        item = fp.read(8)
        if len(item) < 8:
            return ("truncated pixel data: encapsulated Pixel Data ends without its Sequence "
                    "Delimiter")
        group, elem, length = struct.unpack(f"{end}HHL", item)
        tag = group << 16 | elem
        if tag == SEQUENCE_DELIMITER_TAG:
            return ""
        if tag != ITEM_TAG or length == UNDEFINED_LENGTH:
            return (f"malformed pixel data: expected an Item (FFFE,E000) in encapsulated Pixel "
                    f"Data at byte {pos}, found ({group:04X},{elem:04X})")
        pos += 8 + length
        if pos > file_size:
            return (f"truncated pixel data: a compressed fragment of {length} bytes runs past the "
                    f"end of the file")


def _dcmread_header(fp: BinaryIO, force: bool) -> tuple[pydicom.Dataset, int]:
    """Read the header up to Pixel Data; return it and the byte offset where reading stopped."""
    fp.seek(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=force,
                                 specific_tags=HEADER_TAGS)
        except InvalidDicomError:
            raise DicomReadError("not DICOM: no 'DICM' marker and no recognisable data set at "
                                 "the start of the file") from None
        except (EOFError, OSError, struct.error) as exc:
            raise DicomReadError(f"unreadable DICOM header: {_short(exc)} (truncated file?)"
                                 ) from None
    for w in caught:
        text = str(w.message)
        if "end of file" in text.lower() or "EOF" in text:
            raise DicomReadError(f"unreadable DICOM header: {_short(text)} (truncated file?)")
    return ds, fp.tell()


def looks_like_dicom(path: Path) -> bool:
    """True when ``path`` starts as a DICOM file (the 'DICM' marker at byte 128, or a data set
    without preamble); reads 132 bytes, never raises (an unreadable file is not DICOM)."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            return head[128:132] == b"DICM" or _looks_like_dataset_without_preamble(fp)
    except OSError:
        return False


def _looks_like_dataset_without_preamble(fp: BinaryIO) -> bool:
    """True when there is no 'DICM' marker but the file starts with a group 0002/0008 tag."""
    fp.seek(0)
    head = fp.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return False
    if len(head) < 8:
        return False
    for end in "<>":
        group, elem = struct.unpack(f"{end}HH", head[:4])
        if group in (0x0002, 0x0008) and elem < 0x0200:
            return True
    return False


def _transfer_syntax(ds: pydicom.Dataset) -> str:
    ts = getattr(ds.file_meta, "TransferSyntaxUID", None)
    if ts:
        return str(ts)
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian)


def header_values(ds: pydicom.Dataset) -> dict[str, list[Any]]:
    """Top-level values of ``ds`` by keyword, each as a list of strings or numbers.

    ASCII-only value representations (UI, CS, DS, IS, PS3.5 6.2) and US are parsed straight from
    the raw bytes, which is several times faster than pydicom's validating conversion; everything
    else (PN, LO... that depend on the Specific Character Set) goes through pydicom.
    """
    out: dict[str, list[Any]] = {}
    for tag in sorted(ds.keys()):
        fast = _FAST_VR.get(int(tag))
        raw = ds.get_item(tag)
        if fast and isinstance(raw, RawDataElement) and raw.VR in (None, fast[1]):
            keyword, vr = fast
            data = raw.value or b""
            if vr == "US":
                n = len(data) // 2
                end = "<" if raw.is_little_endian else ">"
                out[keyword] = list(struct.unpack(f"{end}{n}H", data[: 2 * n]))
            else:
                text = data.decode("ascii", "replace").strip(" \x00")
                out[keyword] = [v.strip(" \x00") for v in text.split("\\")] if text else []
            continue
        elem = ds[tag]
        value = elem.value
        if value is None or value == "":
            out[elem.keyword] = []
        elif isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            out[elem.keyword] = [value]
        else:
            out[elem.keyword] = list(value)
    return out


def _image_header(values: dict[str, list[Any]], relpath: str, series_uid: str, sop_class: str,
                  ts: str) -> FileHeader:
    """The image plane and pixel attributes of a CT slice, or a FileHeader with the reason."""
    base: dict[str, Any] = dict(path=relpath, series_uid=series_uid, sop_class_uid=sop_class)
    required = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows",
                "Columns", "BitsAllocated", "PixelRepresentation")
    missing = [k for k in required if not values.get(k)]
    if missing:
        return FileHeader(**base, reason=f"missing attribute: {', '.join(missing)}")
    try:
        position = _floats(values, "ImagePositionPatient", 3)
        orientation = _floats(values, "ImageOrientationPatient", 6)
        spacing = _floats(values, "PixelSpacing", 2)
    except (ValueError, TypeError) as exc:
        return FileHeader(**base, reason=f"invalid image plane: {_short(exc)}")
    rows, columns, bits = (_int(values, k) for k in ("Rows", "Columns", "BitsAllocated"))
    if rows <= 0 or columns <= 0 or bits not in (1, 8, 16, 32, 64):
        return FileHeader(**base, reason=f"invalid pixel module: Rows {rows}, Columns {columns}, "
                                         f"BitsAllocated {bits}")
    if min(spacing) <= 0:
        return FileHeader(**base, reason=f"invalid image plane: PixelSpacing must be > 0, "
                                         f"got {list(spacing)}")
    tilt = _text(values, "GantryDetectorTilt")
    try:
        tilt_deg = float(tilt) if tilt else 0.0
    except ValueError:
        tilt_deg = 0.0
    return FileHeader(
        **base,
        sop_instance_uid=_text(values, "SOPInstanceUID"),
        patient_id=_text(values, "PatientID"),
        study_uid=_text(values, "StudyInstanceUID"),
        modality=_text(values, "Modality"),
        manufacturer=_text(values, "Manufacturer"),
        transfer_syntax=ts,
        orientation=orientation,
        position_mm=position,
        pixel_spacing_mm=spacing,
        rows=_int(values, "Rows"),
        columns=_int(values, "Columns"),
        bits_allocated=_int(values, "BitsAllocated"),
        pixel_representation=_int(values, "PixelRepresentation"),
        samples_per_pixel=_int(values, "SamplesPerPixel", default=1),
        gantry_tilt_deg=tilt_deg,
    )


def _text(values: dict[str, list[Any]], keyword: str) -> str:
    found = values.get(keyword)
    return str(found[0]).strip() if found else ""


def _int(values: dict[str, list[Any]], keyword: str, default: int = 0) -> int:
    found = values.get(keyword)
    try:
        return int(found[0]) if found else default
    except (TypeError, ValueError):
        return default


def _floats(values: dict[str, list[Any]], keyword: str, n: int) -> tuple[float, ...]:
    found = [float(v) for v in values.get(keyword, [])]
    if len(found) != n or not all(math.isfinite(v) for v in found):
        raise ValueError(f"expected {n} finite {keyword} values, got {found}")
    return tuple(found)


def _short(exc: object, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
