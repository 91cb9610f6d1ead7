"""Read element values without pydicom's per-element conversion (the de-identification hot path).

Datasets read from disk hold ``RawDataElement`` bytes until an element is accessed; converting
every element costs more than reading and writing the file. These helpers decode only what a rule
needs, straight from the raw bytes, and fall back to the converted value for in-memory datasets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
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


# Letters that Unicode does not decompose into base + accent.
_FOLD_EXTRA = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "ŀ": "l",
                             "þ": "th", "ð": "d", "œ": "oe", "æ": "ae"})
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "AE", "Ö": "OE", "Ü": "UE"})
MIN_TEXT_CHARS = 4
MIN_DIGIT_CHARS = 6
_DIGIT_RUN = re.compile(r"(?<![0-9.])[0-9]")


def fold(text: str) -> str:
    """Unicode case-folded, accent-stripped text (``Παπαδόπουλος`` and ``ΠΑΠΑΔΟΠΟΥΛΟΣ`` ->
    ``παπαδοπουλοσ``; ``Müller`` -> ``muller``): what identity matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.translate(_FOLD_EXTRA).casefold()


def folded_forms(identifier: str) -> set[str]:
    """:func:`fold` of ``identifier`` and of its German transliteration (``Müller`` -> also
    ``mueller``)."""
    return {fold(identifier), fold(identifier.translate(_GERMAN))}


@dataclass(frozen=True)
class FoldedNeedles:
    """Identifying values, folded: ``text`` (with a letter, >= :data:`MIN_TEXT_CHARS`) matched as
    substrings, ``digits`` (digit-only, >= :data:`MIN_DIGIT_CHARS`) matched at the start of a
    digit run not preceded by a digit or a dot (never inside a longer number or a UID)."""

    text: tuple[str, ...] = ()
    digits: tuple[str, ...] = ()

    @classmethod
    def build(cls, identifiers: Iterable[str]) -> FoldedNeedles:
        text, digits = set(), set()
        for ident in identifiers:
            ident = ident.strip(PADDING)
            if ident.isdigit():
                if len(ident) >= MIN_DIGIT_CHARS:
                    digits.add(ident)
                continue
            for form in folded_forms(ident):
                if any(c.isalpha() for c in form) and len(form) >= MIN_TEXT_CHARS:
                    text.add(form)
        return cls(tuple(sorted(text)), tuple(sorted(digits)))

    def __bool__(self) -> bool:
        return bool(self.text or self.digits)

    def find(self, text: str) -> list[str]:
        """The needles in ``text`` (folded here), empty when it holds none."""
        folded = fold(text)
        found = [n for n in self.text if n in folded]
        if self.digits and any(c.isdigit() for c in folded):
            for needle in self.digits:
                pos = folded.find(needle)
                while pos >= 0:
                    if pos == 0 or folded[pos - 1] not in "0123456789.":
                        found.append(needle)
                        break
                    pos = folded.find(needle, pos + 1)
        return found
