"""Verify de-identified output: no identifying value seen in the input survives anywhere.

Independent of the applied profile on purpose (a wrong action in the profile must make this check
fail): what counts as identifying is read from the standard's Table E.1-1 itself
(:func:`build_verify_spec`), plus PN values anywhere, instance UIDs, unlisted free text, private
attributes not allow-listed, file meta text and the input's path components.

While the input is read, :class:`IdentifierCollector` gathers the identifying strings (whole values,
PN components and their upper/lower/accent-stripped/transliterated variants, path pieces) and the
text of kept attributes. Identity proper (:data:`IDENTITY_KEYWORDS`: names and their components,
IDs, other IDs, accession numbers, birth dates, addresses, phone numbers, institution and staff
names, every PN) is searched whatever attribute holds it: only text this module's profile itself
produces (dummies, the pseudonym, method codes) can explain it. Other identifying values (a Study
Description "CHEST" that equals the kept Body Part Examined) are dropped when they also occur in
kept text. :class:`LeakMatcher` searches the survivors in the serialized bytes of every output
file up to (not including) the Pixel Data element, which covers the preamble, file meta, nested
sequences and private tags, in the output paths, and (:meth:`LeakMatcher.find_text`) in every
decoded text value of every output dataset, each decoded with its own SpecificCharacterSet and
compared Unicode-casefolded and accent-stripped (:func:`~pipeline.dicom.deid.values.fold`), so
``ΠΑΠΑΔΟΠΟΥΛΟΣ`` in an ISO-IR 126 value is found for ``Παπαδόπουλος``. Rules that keep the search
free of false hits:

- text identifiers (with a letter): >= :data:`MIN_TEXT_CHARS`, case-insensitive substring;
- digit-only identifiers (IDs, dates, times): >= :data:`MIN_DIGIT_CHARS`, matched at the start of a
  digit run not preceded by a digit or a dot (so never inside a new UID or a decimal);
- dotted numbers (UIDs): >= :data:`MIN_DOTTED_CHARS`, substring; shorter numbers (weights, ages)
  are not searched: they cannot be told apart from geometry values (the profile still removes them).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from pipeline.dicom.deid.actions import PIXEL_DATA, PRODUCED_TEXT, is_registered_uid
from pipeline.dicom.deid.profile import (
    CLASS_UID_TAGS,
    DATE_VRS,
    FREE_TEXT_VRS,
    OPTION_COLUMNS,
    SAFE_UNLISTED_TAGS,
    ProfileOptions,
    is_overlay_or_curve,
    load_standard_table,
    vr_of,
)
from pipeline.dicom.deid.values import (
    FoldedNeedles,
    decode_text,
    element_vr,
    fold,
    python_codecs,
    text_of,
)

MIN_TEXT_CHARS = 4
MIN_DIGIT_CHARS = 6
MIN_DOTTED_CHARS = 10
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST",
                      "TM", "UC", "UI", "UR", "UT"})
BINARY_TEXT_VRS = frozenset({"UN", "OB"})  # private values of implicit-VR files are UN
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "AE", "Ö": "OE", "Ü": "UE",
                           "ß": "ss", "ø": "oe", "Ø": "OE", "å": "aa", "Å": "AA", "æ": "ae"})
# Identity proper (PS3.15 E.1-1 rows that name a person, an ID, a place, a way to reach someone):
# searched in every output value whatever attribute holds it (module docstring).
IDENTITY_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence",
    "IssuerOfPatientID", "PatientBirthName", "PatientMotherBirthName", "PatientBirthDate",
    "PatientBirthTime", "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation",
    "MedicalRecordLocator", "AccessionNumber", "StudyID", "RequestedProcedureID",
    "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "PersonAddress", "PersonTelephoneNumbers", "PersonTelecomInformation", "MilitaryRank",
    "BranchOfService", "RegionOfResidence", "PatientInsurancePlanCodeSequence",
    "ResponsibleOrganization", "ResponsiblePerson",
)
IDENTITY_TAGS: frozenset[int] = frozenset(tag_for_keyword(k) or 0 for k in IDENTITY_KEYWORDS)
_PIECES = re.compile(r"[\^=\s_\-.,/\\]+")
_DIGITS = frozenset(b"0123456789.")


@dataclass(frozen=True)
class VerifySpec:
    """Which standard attributes are identifying under the enabled options (from Table E.1-1)."""

    listed: frozenset[int]
    identifying: frozenset[int]
    times_kept: bool
    safe_private: frozenset[tuple[int, int, str]]
    safe_creators: frozenset[tuple[int, str]]
    identity: frozenset[int] = frozenset()  # identity proper, under the enabled options


def build_verify_spec(options: ProfileOptions) -> VerifySpec:
    """Identifying = every listed attribute, except those an enabled option keeps (K), and TM
    values under Modified Dates (kept: the shift is whole days)."""
    listed, identifying = set(), set()
    for entry in load_standard_table():
        if entry.tag is None:
            continue
        listed.add(entry.tag)
        retained = False
        for name, column in OPTION_COLUMNS.items():
            opt = entry.options.get(column)
            if getattr(options, name) and (
                    opt == "K" or (opt == "C" and vr_of(entry.tag) == "TM")):
                retained = True
        if not retained:
            identifying.add(entry.tag)
    safe = frozenset((s.group, s.element_offset, s.creator) for s in options.safe_private)
    creators = frozenset((s.group, s.creator) for s in options.safe_private)
    return VerifySpec(frozenset(listed), frozenset(identifying),
                      options.retain_longitudinal_modified_dates, safe, creators,
                      frozenset(IDENTITY_TAGS & identifying))


def _qualifies(text: str) -> bool:
    if any(c.isalpha() for c in text):
        return len(text) >= MIN_TEXT_CHARS
    if text.isdigit():
        return len(text) >= MIN_DIGIT_CHARS
    if set(text) <= set("0123456789."):
        return len(text) >= MIN_DOTTED_CHARS
    return len(text) >= MIN_DIGIT_CHARS and any(c.isalnum() for c in text)


def identifier_forms(value: str, is_name: bool = False) -> set[str]:
    """The value and, for names and paths, its pieces (``Müller^Hans`` -> ``Müller``, ``Hans``)."""
    value = value.strip(" \0")
    forms = {value}
    if is_name:
        forms.update(p for p in _PIECES.split(value))
        forms.update(g.replace("^", " ").strip() for g in value.split("="))
    return {f for f in forms if f and _qualifies(f)}


def ascii_fold(text: str) -> str:
    """``Müller`` -> ``Muller``."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@dataclass
class IdentifierCollector:
    """Identifying strings and kept text seen while reading one series' input files.

    What an element contributes depends only on its decision (tag, VR, private creator), its raw
    value and the file's character sets, so a raw value already seen with the same VR and
    character sets is skipped: the slices of a series repeat most of their values.
    """

    spec: VerifySpec
    identifiers: set[str] = field(default_factory=set)
    strong: set[str] = field(default_factory=set)  # identity proper (never excused by kept text)
    kept: set[str] = field(default_factory=set)
    codecs: list[str] = field(default_factory=lambda: ["utf-8", "latin-1"])
    _seen: set[tuple[str, bool, bool]] = field(default_factory=set)
    _decisions: dict[tuple[int, str, str], bool] = field(default_factory=dict)
    _raw_seen: dict[tuple[str, ...], set[tuple[bool, str, bytes]]] = field(default_factory=dict)
    _paths_seen: set[str] = field(default_factory=set)

    def add_file(self, ds: Dataset, rel_path: str) -> None:
        """Collect from the dataset, its file meta and the file's path relative to the input."""
        codecs = python_codecs(ds)
        self.codecs = list(dict.fromkeys([*self.codecs, *codecs]))
        seen = self._raw_seen.setdefault(tuple(codecs), set())
        self._walk(ds, codecs, seen)
        if getattr(ds, "file_meta", None) is not None:
            self._walk(ds.file_meta, codecs, seen)
        self.add_path(rel_path)

    def add_path(self, rel_path: str) -> None:
        """Path components (folders, file stem) and their pieces are identifying."""
        for part in rel_path.replace("\\", "/").split("/"):
            if part in self._paths_seen:
                continue
            self._paths_seen.add(part)
            stem = part.rsplit(".", 1)[0] if part.lower().endswith((".dcm", ".ima")) else part
            self.identifiers |= identifier_forms(stem, is_name=True)

    def _walk(self, ds: Dataset, codecs: list[str], seen: set[tuple[bool, str, bytes]],
              in_identity: bool = False) -> None:
        elements = ds._dict
        items = [(int(t), e) for t, e in elements.items()]
        creators = {(t >> 16, t & 0xFFFF): text_of(ds.get_item(t)) for t, _ in items
                    if t >> 16 & 1 and 0x0010 <= t & 0xFFFF <= 0x00FF}
        decisions = self._decisions
        for tag, elem in items:
            if tag == PIXEL_DATA:
                continue
            raw = type(elem) is RawDataElement
            if raw and elem.value is None:
                elem = ds.get_item(tag)  # a deferred value: read it
                raw = type(elem) is RawDataElement
            vr = element_vr(elem, tag)
            if vr == "SQ" or (tag >> 16 & 1 and elem.VR is None and _is_sequence(ds, tag)):
                inner = in_identity or tag in self.spec.identity
                for item in ds[tag].value:
                    self._walk(item, codecs, seen, inner)
                continue
            creator = _creator_of(tag, creators) if tag >> 16 & 1 else ""
            key = (tag, vr, creator)
            identifying = decisions.get(key)
            if identifying is None:
                identifying = decisions[key] = self._identifying(tag, vr, creators)
            if not identifying and (vr not in TEXT_VRS or vr in {"DS", "IS"}):
                continue
            strong = identifying and (in_identity or vr == "PN" or tag in self.spec.identity)
            if raw and isinstance(elem.value, bytes):
                memo = (strong, vr, elem.value)
                if memo in seen:
                    continue
                seen.add(memo)
            if identifying:
                self._add(elem, vr, codecs, strong)
            else:
                text = decode_text(elem, codecs)
                if text:
                    self.kept.add(text)

    def _identifying(self, tag: int, vr: str, creators: dict[tuple[int, int], str]) -> bool:
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1:
            if 0x0010 <= element <= 0x00FF:
                return (group, creators.get((group, element), "")) not in self.spec.safe_creators
            creator = creators.get((group, element >> 8), "")
            return (group, element & 0xFF, creator) not in self.spec.safe_private
        if tag in self.spec.listed:
            return tag in self.spec.identifying
        if is_overlay_or_curve(group) or vr == "PN":
            return True
        if vr == "UI":
            return tag not in CLASS_UID_TAGS
        if vr in DATE_VRS:
            return not (vr == "TM" and self.spec.times_kept)
        return vr in FREE_TEXT_VRS and tag not in SAFE_UNLISTED_TAGS

    def _add(self, elem: object, vr: str, codecs: list[str], strong: bool = False) -> None:
        if vr in BINARY_TEXT_VRS:
            text = text_of(elem)
            if not text or not text.isprintable():
                return  # binary private data: not searchable as text
        elif vr not in TEXT_VRS:
            return
        else:
            text = decode_text(elem, codecs)
        for value in text.split("\\"):
            if vr == "UI" and is_registered_uid(value.strip(" \0")):
                continue
            seen = (value, vr == "PN", strong)
            if seen in self._seen:
                continue
            self._seen.add(seen)
            forms = identifier_forms(value, is_name=vr == "PN")
            if vr == "DT" and len(value) > 8:
                forms |= identifier_forms(value[:8])
            self.identifiers |= forms
            if strong:
                self.strong |= forms


def _creator_of(tag: int, creators: dict[tuple[int, int], str]) -> str:
    """The Private Creator of a private element, or the creator element's own value."""
    group, element = tag >> 16, tag & 0xFFFF
    return creators.get((group, element if element <= 0xFF else element >> 8), "")


def _is_sequence(ds: Dataset, tag: int) -> bool:
    try:
        return ds[tag].VR == "SQ"
    except Exception:  # an undecodable private value is not a sequence
        return False


@dataclass(frozen=True)
class LeakMatcher:
    """Byte needles to search: ``text`` (ASCII-lowercased, case-insensitive) and ``digits``; and
    ``folded``, the same identifiers for decoded text (:meth:`find_text`)."""

    text: tuple[bytes, ...]
    digits: tuple[bytes, ...]
    folded: FoldedNeedles = field(default_factory=FoldedNeedles)

    @property
    def size(self) -> int:
        return len(self.text) + len(self.digits)

    def find(self, data: bytes) -> list[bytes]:
        """The needles found in ``data`` (empty when clean)."""
        low = data.lower()
        found = [n for n in self.text if n in low]
        for needle in self.digits:
            pos = data.find(needle)
            while pos >= 0:
                if pos == 0 or data[pos - 1] not in _DIGITS:
                    found.append(needle)
                    break
                pos = data.find(needle, pos + 1)
        return found

    def find_text(self, text: str) -> list[str]:
        """The identifiers found in a decoded value (Unicode-folded comparison)."""
        return self.folded.find(text)


def _variants(identifier: str) -> set[str]:
    out = {identifier, identifier.upper(), identifier.lower(), identifier.casefold(),
           identifier.title()}
    for form in list(out):
        out.add(ascii_fold(form))
        out.add(form.translate(_TRANSLIT))
        stripped = fold(form)
        out.update({stripped, stripped.upper(), stripped.title()})
    return {v for v in out if v}


def build_matcher(identifiers: Iterable[str], kept: Iterable[str], codecs: Iterable[str],
                  produced: Iterable[str] = (), strong: Iterable[str] = ()) -> LeakMatcher:
    """Needles for the identifiers not explained by kept or produced text; ``strong`` ones
    (identity proper) are explained by produced text only."""
    produced_text = "\n".join([*PRODUCED_TEXT, *produced])
    corpus = "\n".join([*kept, produced_text]).casefold()
    produced_folded = fold(produced_text)
    strong = set(strong)
    codecs = list(codecs)
    text: set[bytes] = set()
    digits: set[bytes] = set()
    kept_ids: list[str] = []
    for ident in identifiers:
        if ident in strong:
            if fold(ident) in produced_folded:
                continue
        elif ident.casefold() in corpus:
            continue
        kept_ids.append(ident)
        if ident.isdigit():
            digits.add(ident.encode("ascii"))
            continue
        for variant in _variants(ident):
            if len(variant) < min(len(ident), MIN_TEXT_CHARS):
                continue
            for codec in codecs:
                try:
                    text.add(variant.encode(codec).lower())
                except (UnicodeEncodeError, LookupError):
                    continue
    return LeakMatcher(tuple(sorted(text)), tuple(sorted(digits)), FoldedNeedles.build(kept_ids))


def output_texts(ds: Dataset, codecs: list[str], memo: dict[bytes, str] | None = None
                 ) -> list[tuple[int, str]]:
    """(tag, decoded text) of every text value of an output dataset, nested sequences, UN/OB
    values that decode as printable text, and file meta included (Pixel Data excluded); each
    value decoded with the dataset's character sets ``codecs`` (:func:`python_codecs`). Values
    that are plain 7-bit ASCII without ISO 2022 escapes are left to the byte search, which finds
    every ASCII spelling of an identifier (bytes lower-cased, accent-stripped and transliterated
    needles), so only values where decoding can change what is seen are decoded here.
    ``memo`` caches decodings by raw bytes (the slices of a series repeat most values)."""
    memo = {} if memo is None else memo
    found: list[tuple[int, str]] = []
    stack = [ds]
    if getattr(ds, "file_meta", None) is not None:
        stack.append(ds.file_meta)
    while stack:
        current = stack.pop()
        for base_tag, elem in current._dict.items():
            value = elem.value
            if (type(value) is bytes and elem.VR != "SQ" and value.isascii()
                    and b"\x1b" not in value) or (type(value) is str and value.isascii()):
                continue  # plain ASCII: the byte search of :meth:`LeakMatcher.find` covers it
            tag = int(base_tag)
            if tag == PIXEL_DATA:
                continue
            vr = element_vr(elem, tag)
            if vr == "SQ":
                stack.extend(current[tag].value)
                continue
            value = elem.value
            if isinstance(value, (bytes, bytearray)):
                if vr not in TEXT_VRS and vr not in BINARY_TEXT_VRS:
                    continue
                key = bytes(value)
                text = memo.get(key)
                if text is None:
                    text = memo[key] = decode_text(elem, codecs)
                if vr in BINARY_TEXT_VRS and not text.isprintable():
                    continue
            elif vr in TEXT_VRS or vr == "PN":
                text = text_of(elem)
            else:
                continue
            if text:
                found.append((tag, text))
    return found


def header_bytes_locations(data: bytes, needles: Iterable[bytes]) -> list[str]:
    """Where found needles sit in serialized DICOM (tags, or ``file meta``): for the leak report
    only, never the values. Slow path, run only when a leak was found."""
    needles = list(needles)
    found: list[str] = []
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
    except Exception:
        return ["unparseable header"]
    datasets = [ds.file_meta, ds] if getattr(ds, "file_meta", None) is not None else [ds]
    for dset in datasets:
        for elem in dset.iterall():
            if elem.VR == "SQ":
                continue
            raw = elem.value if isinstance(elem.value, bytes) else str(elem.value).encode(
                "utf-8", "replace")
            if any(n in raw.lower() or n in raw for n in needles):
                found.append(str(elem.tag))
    return found or ["raw bytes outside element values"]
