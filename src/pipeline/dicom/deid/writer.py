"""Encode a de-identified dataset to bytes, byte-identical to pydicom's ``save_as``, but fast.

pydicom's writer (``dcmwrite(..., enforce_file_format=True)``) pays per element: a buffer object,
several property look-ups and a tag conversion for every element, even for the raw elements it
writes as read. Most elements of a de-identified file are such raw, kept elements, so
:func:`encode_file` mirrors ``dcmwrite`` / ``write_dataset`` / ``write_data_element`` /
``write_sequence_item`` (pydicom 3.0) step by step for little-endian transfer syntaxes:

- raw elements (``RawDataElement``, kept as read) are written from their tag, VR, length and
  value bytes, exactly as ``write_data_element`` does for ``elem.is_raw``;
- sequences are written item by item with the same lengths, delimiters and character sets;
- every other element (the replaced ones) and every dataset that pydicom would re-encode (another
  encoding or character set than it was read with) is handed to pydicom's own functions.

Whenever a case is not covered (big endian, deflated or private transfer syntaxes, deferred
values, a value too long for its VR, non-standard file meta), the whole file is encoded by
``save_as`` instead, so the output never depends on which path was taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from struct import Struct
from typing import Any

from pydicom import __version_info__
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

PIXEL_DATA = 0x7FE00010
_HH = Struct("<HH")
_HHL = Struct("<HHL")
_HH2sH = Struct("<HH2sH")
_HH2sHL = Struct("<HH2sHL")
_HH2sL = Struct("<HH2sL")
_EXPLICIT_32 = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_SEQUENCE_DELIMITER = _HHL.pack(0xFFFE, 0xE0DD, 0)
_ITEM_DELIMITER = _HHL.pack(0xFFFE, 0xE00D, 0)
_ITEM_TAG = _HH.pack(0xFFFE, 0xE000)
_ENCAPSULATED_ITEM = b"\xfe\xff\x00\xe0"
_PLAIN_UID = re.compile(r"[0-9.]{1,64}")
_META_TAGS = frozenset({0x00020002, 0x00020003, 0x00020010, 0x00020012})
_IMPLEMENTATION_VERSION = f"PYDICOM {'.'.join(__version_info__)}"
_FALLBACK_ERRORS = (ValueError, TypeError, AttributeError, KeyError, NotImplementedError,
                    OverflowError, LookupError)


class _UnsupportedError(Exception):
    """A case :func:`encode_file` does not mirror: the caller uses pydicom's writer instead."""


def encode_file(ds: Dataset, cache: EncodedCache | None = None) -> bytes:
    """``ds`` (without Pixel Data) encoded as ``ds.save_as(buf, enforce_file_format=True)`` would.

    ``ds.file_meta`` must hold the transfer syntax; it is not changed. ``cache``: encodings of the
    shared elements of the series (:class:`EncodedCache`).
    """
    try:
        return _encode_fast(ds, cache)
    except _UnsupportedError:
        pass
    buf = DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def encode_pixel_element(elem: Any, implicit: bool) -> list[bytes | memoryview]:
    """The Pixel Data element as ``write_data_element`` writes it, as chunks (no copy of the
    value): ``[header, value]`` or ``[header, value, sequence delimiter]``."""
    if isinstance(elem, RawDataElement) and isinstance(elem.value, (bytes, memoryview)):
        undefined = elem.length == 0xFFFFFFFF
        if not undefined or bytes(elem.value[:4]).startswith(_ENCAPSULATED_ITEM):
            try:
                header = _raw_header(elem, implicit, len(elem.value), undefined)
            except _UnsupportedError:
                pass
            else:
                return [header, elem.value, _SEQUENCE_DELIMITER] if undefined else [
                    header, elem.value]
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = implicit
    write_data_element(buf, elem)
    return [buf.getvalue()]


def _encode_fast(ds: Dataset, cache: EncodedCache | None) -> bytes:
    if any(t >> 16 in (0, 2) for t in ds._dict):
        raise _UnsupportedError  # pydicom raises a ValueError for these: let it
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is None or set(file_meta._dict) != _META_TAGS:
        raise _UnsupportedError
    syntax = file_meta.get("TransferSyntaxUID", None)
    if (not isinstance(syntax, UID) or syntax.is_private or not syntax.is_transfer_syntax
            or not syntax.is_little_endian or syntax == DeflatedExplicitVRLittleEndian):
        raise _UnsupportedError
    implicit = syntax.is_implicit_VR
    preamble = getattr(ds, "preamble", None)
    if preamble and len(preamble) != 128:
        raise _UnsupportedError
    # dcmwrite: keep the file meta's Media Storage UIDs in step with the dataset (this converts
    # SOP Class/Instance UID exactly as dcmwrite does before writing them).
    meta_class = file_meta.get("MediaStorageSOPClassUID", None)
    ds_class = ds.get("SOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        meta_class = ds_class
    meta_instance = file_meta.get("MediaStorageSOPInstanceUID", None)
    ds_instance = ds.get("SOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        meta_instance = ds_instance
    impl = file_meta.get("ImplementationClassUID", None)
    meta = _encode_meta(meta_class, meta_instance, syntax, impl)
    out = bytearray(preamble or b"\x00" * 128)
    out += b"DICM"
    out += meta
    try:
        _write_dataset(out, ds, implicit, default_encoding, _Scratch(implicit, cache))
    except _FALLBACK_ERRORS:
        raise _UnsupportedError from None
    return bytes(out)


def _encode_meta(media_class: Any, media_instance: Any, syntax: Any, impl: Any) -> bytes:
    """File Meta Information as ``write_file_meta_info(enforce_standard=True)`` writes the four
    elements of :func:`~pipeline.dicom.deid.actions.new_file_meta` plus the ones it adds."""
    values = []
    for value in (media_class, media_instance, syntax, impl):
        if type(value) is not UID or not _PLAIN_UID.fullmatch(value):
            raise _UnsupportedError
        values.append(value.encode("ascii") + (b"\0" if len(value) % 2 else b""))
    version = _IMPLEMENTATION_VERSION + (" " if len(_IMPLEMENTATION_VERSION) % 2 else "")
    body = bytearray(_HH2sHL.pack(0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01")
    for element, value in zip((0x0002, 0x0003, 0x0010, 0x0012), values, strict=True):
        body += _HH2sH.pack(0x0002, element, b"UI", len(value)) + value
    version_bytes = version.encode(default_encoding)
    body += _HH2sH.pack(0x0002, 0x0013, b"SH", len(version_bytes)) + version_bytes
    return _HH2sH.pack(0x0002, 0x0000, b"UL", 4) + len(body).to_bytes(4, "little") + bytes(body)


class EncodedCache:
    """Encodings of elements that are shared by the files of a series and never changed (the
    de-identification record, the replacement elements of
    :attr:`~pipeline.dicom.deid.actions.DeidContext.shared`), by element, encoding and character
    set: each is encoded by pydicom once per series instead of once per file."""

    def __init__(self, elements: Iterable[Any] = ()) -> None:
        self._known: list[dict[int, Any]] = [{id(e): e for e in elements}]
        self.encoded: dict[tuple[int, bool, Any], bytes] = {}

    def share(self, elements: dict[int, Any]) -> None:
        """Also cache the elements of ``elements`` (id -> element, e.g.
        ``DeidContext.shared_elements``), as it grows."""
        self._known.append(elements)

    def knows(self, elem: Any) -> bool:
        key = id(elem)
        return any(known.get(key) is elem for known in self._known)


class _Scratch:
    """pydicom buffers for what pydicom encodes itself, and the per-series :class:`EncodedCache`."""

    def __init__(self, implicit: bool, cache: EncodedCache | None) -> None:
        self.implicit = implicit
        self.cache = cache

    def _buffer(self) -> DicomBytesIO:
        buf = DicomBytesIO()
        buf.is_little_endian = True
        buf.is_implicit_VR = self.implicit
        return buf

    def element(self, elem: Any, encodings: Any) -> bytes:
        buf = self._buffer()
        write_data_element(buf, elem, encodings)
        return buf.getvalue()

    def dataset(self, ds: Dataset, parent_encoding: Any) -> bytes:
        buf = self._buffer()
        write_dataset(buf, ds, parent_encoding)
        return buf.getvalue()


def _hashable(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


def _converted(encodings: Any) -> list[str]:
    """``convert_encodings(encodings or [default_encoding])``, memoised."""
    key = _hashable(encodings) if encodings else None
    found = _CONVERTED.get(key)
    if found is None:
        found = _CONVERTED[key] = convert_encodings(encodings or [default_encoding])
    return list(found)


_CONVERTED: dict[Any, list[str]] = {}


def _raw_header(elem: RawDataElement, implicit: bool, length: int, undefined: bool) -> bytes:
    tag = elem.tag
    if implicit:
        return _HHL.pack(tag >> 16, tag & 0xFFFF, 0xFFFFFFFF if undefined else length)
    vr = elem.VR
    if not isinstance(vr, str) or len(vr) != 2 or not vr.isascii():
        raise _UnsupportedError
    if vr in _EXPLICIT_32:
        return _HH2sHL.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0,
                            0xFFFFFFFF if undefined else length)
    if undefined:
        return _HH2sL.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0xFFFFFFFF)
    if length > 0xFFFF:
        raise _UnsupportedError  # pydicom writes it as UN with a warning
    return _HH2sH.pack(tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _write_dataset(out: bytearray, ds: Dataset, implicit: bool, parent_encoding: Any,
                   scratch: _Scratch) -> None:
    """Mirror of ``pydicom.filewriter.write_dataset`` (little endian, encoding ``implicit``)."""
    if (ds.original_encoding != (implicit, True)
            or ds.original_character_set != ds._character_set):
        # pydicom re-encodes every element of such a dataset: let it
        out += scratch.dataset(ds, parent_encoding)
        return
    dataset_encoding = ds.get("SpecificCharacterSet", parent_encoding)
    elements = ds._dict
    for tag in sorted(elements):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue
        elem = elements[tag]
        if type(elem) is RawDataElement:
            value = elem.value
            if value is None or not isinstance(value, bytes) or tag == PIXEL_DATA:
                out += scratch.element(ds.get_item(tag), dataset_encoding)
                continue
            undefined = elem.length == 0xFFFFFFFF
            out += _raw_header(elem, implicit, len(value), undefined)
            out += value
            if undefined:
                out += _SEQUENCE_DELIMITER
        elif scratch.cache is not None and scratch.cache.knows(elem):
            key = (id(elem), implicit, _hashable(dataset_encoding))
            encoded = scratch.cache.encoded.get(key)
            if encoded is None:
                one = bytearray()
                _write_element(one, elem, implicit, dataset_encoding, scratch)
                encoded = scratch.cache.encoded[key] = bytes(one)
            out += encoded
        else:
            _write_element(out, elem, implicit, dataset_encoding, scratch)


def _write_element(out: bytearray, elem: Any, implicit: bool, encodings: Any,
                   scratch: _Scratch) -> None:
    if elem.VR == "SQ" and not elem.is_buffered:
        _write_sequence(out, elem, implicit, encodings, scratch)
    else:
        out += scratch.element(elem, encodings)


def _write_sequence(out: bytearray, elem: Any, implicit: bool, encodings: Any,
                    scratch: _Scratch) -> None:
    """Mirror of ``write_data_element`` for a sequence (``write_sequence`` and
    ``write_sequence_item``): items with their actual length unless read with undefined length."""
    encodings = _converted(encodings)
    body = bytearray()
    if not elem.is_empty:
        for item in elem.value:
            body += _ITEM_TAG
            item_body = bytearray()
            _write_dataset(item_body, item, implicit, encodings, scratch)
            if getattr(item, "is_undefined_length_sequence_item", False):
                body += b"\xff\xff\xff\xff"
                body += item_body
                body += _ITEM_DELIMITER
            else:
                body += len(item_body).to_bytes(4, "little")
                body += item_body
    undefined = elem.is_undefined_length
    tag = elem.tag
    length = 0xFFFFFFFF if undefined else len(body)
    if implicit:
        out += _HHL.pack(tag >> 16, tag & 0xFFFF, length)
    else:
        out += _HH2sHL.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, length)
    out += body
    if undefined:
        out += _SEQUENCE_DELIMITER
