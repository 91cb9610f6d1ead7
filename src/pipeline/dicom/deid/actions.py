"""Apply a resolved :class:`~pipeline.dicom.deid.profile.Profile` to a dataset, in place.

Implements the actions of PS3.15 E.1.1 element by element, recursively inside sequences (items are
datasets processed with the same rules), and records what was done (PS3.15 E.1.1 and PS3.3
C.12.1.1.7: Patient Identity Removed, De-identification Method and its Code Sequence, Longitudinal
Temporal Information Modified). Kept elements are never converted: their raw bytes are written back
as read, so pixel data and geometry come out byte-identical.

Identity copied into a kept attribute (a PatientID in Convolution Kernel, a surname in lower case
in Manufacturer, another patient ID in Software Versions): every kept text value is compared,
decoded with the file's character sets and Unicode-folded, with the identity of the input
(``DeidContext.identity``); a value that contains any is emptied (zero length), never kept.
Padding elements (FFFC,FFFC) are removed at every level.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import PIXEL_KEYWORDS, Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from pipeline.dicom.deid.dates import shift_da, shift_dt
from pipeline.dicom.deid.profile import PSEUDONYM_TAGS, Profile, is_overlay_or_curve
from pipeline.dicom.deid.pseudonyms import Pseudonymizer
from pipeline.dicom.deid.values import FoldedNeedles, decode_text, element_vr, strings_of, text_of

PIXEL_DATA = 0x7FE00010
PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020
DUMMY_TEXT = "ANONYMIZED"
DUMMY_PN = "ANONYMOUS"
DUMMY_BY_VR: dict[str, Any] = {
    "PN": DUMMY_PN, "LO": DUMMY_TEXT, "SH": DUMMY_TEXT, "LT": DUMMY_TEXT, "ST": DUMMY_TEXT,
    "UT": DUMMY_TEXT, "UC": DUMMY_TEXT, "CS": DUMMY_TEXT, "AE": DUMMY_TEXT, "UR": DUMMY_TEXT,
    "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000D", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
}
DEID_METHOD_TEXT = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
# Strings this module writes: the verifier never treats them as identifying.
PRODUCED_TEXT: tuple[str, ...] = (DUMMY_TEXT, DUMMY_PN, DEID_METHOD_TEXT, "19000101", "MODIFIED",
                                  "REMOVED", "YES", "DCM", "dicom", ".dcm")
PADDING_TAG = 0xFFFCFFFC
# Kept values of these VRs are compared with the input's identity (numbers and UIDs are not text
# a person copies a name into; DS/IS are included for copied IDs).
SCRUBBED_VRS = frozenset({"AE", "CS", "DS", "IS", "LO", "LT", "SH", "ST", "UC", "UR", "UT", "PN"})
COUNT_NAMES = {"D": "replaced", "Z": "zeroed", "X": "removed", "K": "kept", "C": "dates_shifted",
               "U": "uids_mapped"}


@dataclass
class DeidContext:
    """Everything the actions need for one patient; ``counts`` accumulates what was done.

    ``shared`` holds the replacement elements built so far, by what they depend on (tag, VR,
    action and, for mapped UIDs and shifted dates, the raw value): every file of a series gets the
    same element objects, which are never changed after they are built (so their encoding can be
    reused, see :class:`~pipeline.dicom.deid.writer.EncodedCache`).
    """

    profile: Profile
    pseudonyms: Pseudonymizer
    patient_pseudonym: str
    date_shift_days: int
    counts: Counter[str] = field(default_factory=Counter)
    _cache: dict[tuple[int, str], str] = field(default_factory=dict)
    shared: dict[tuple[Any, ...], tuple[DataElement, bool]] = field(default_factory=dict)
    shared_elements: dict[int, DataElement] = field(default_factory=dict)  # id -> element
    identity: FoldedNeedles = field(default_factory=FoldedNeedles)
    codecs: list[str] = field(default_factory=lambda: ["utf-8", "latin-1"])
    _scrub_memo: dict[tuple[Any, ...], bool] = field(default_factory=dict)

    def set_identity(self, identity: FoldedNeedles) -> None:
        """Use ``identity`` from now on (it grows as the files of a series are read)."""
        if identity != self.identity:
            self.identity = identity
            self._scrub_memo.clear()

    def carries_identity(self, elem: Any, vr: str) -> bool:
        """Whether a kept text value contains an identifying value of the input (memoised on
        the raw bytes and character sets)."""
        if not self.identity or vr not in SCRUBBED_VRS:
            return False
        value = elem.value
        key: tuple[Any, ...] | None = None
        if isinstance(value, bytes):
            key = (value, tuple(self.codecs))
            found = self._scrub_memo.get(key)
            if found is not None:
                return found
        found = bool(self.identity.find(decode_text(elem, self.codecs)))
        if key is not None:
            self._scrub_memo[key] = found
        return found

    def action(self, tag: int, vr: str) -> str:
        """Memoised :meth:`Profile.action`."""
        key = (tag, vr)
        code = self._cache.get(key)
        if code is None:
            code = self._cache[key] = self.profile.action(tag, vr)
        return code


def dummy_value(vr: str) -> Any:
    """A non-empty dummy value consistent with ``vr`` (the D action)."""
    if vr in DUMMY_BY_VR:
        return DUMMY_BY_VR[vr]
    return b"\0" * 8  # OB, OW, OD, OF, OL, OV, UN: a multiple of every binary VR's unit size


def is_registered_uid(value: str) -> bool:
    """True for UIDs of the DICOM registry (SOP classes, transfer syntaxes, coding schemes...)."""
    return UID(value).name != value


def map_uids(values: list[str], pseudonyms: Pseudonymizer) -> list[str]:
    """Map every instance UID through the keyed function; registered standard UIDs stay."""
    return [v if is_registered_uid(v) else pseudonyms.uid(v) for v in values]


def deidentify_dataset(ds: Dataset, ctx: DeidContext, top_level: bool = True) -> None:
    """Apply the profile to every element of ``ds`` (and of its sequences), in place.

    At the top level, elements after Pixel Data (digital signatures, trailing padding) are removed.
    """
    items = [(int(t), e) for t, e in ds._dict.items()]
    creators = {(t >> 16, t & 0xFFFF): text_of(ds.get_item(t)) for t, _ in items
                if t >> 16 & 1 and 0x0010 <= t & 0xFFFF <= 0x00FF}
    counts = ctx.counts
    action = ctx.action
    for tag, elem in items:
        group = tag >> 16
        if tag == PIXEL_DATA and top_level:
            counts["kept"] += 1
            continue
        if (top_level and tag > PIXEL_DATA) or group == 0x0002 or tag == PADDING_TAG:
            _delete(ds, tag)
            counts["removed"] += 1
            continue
        if type(elem) is RawDataElement and elem.value is None:
            elem = ds.get_item(tag)  # a deferred value: read it
        if group & 1:
            _private(ds, tag, elem, creators, ctx)
            continue
        vr = element_vr(elem, tag)
        code = action(tag, vr)
        if is_overlay_or_curve(group):
            counts["overlay_curve_removed"] += 1
        if code == "K" and vr != "SQ":
            if ctx.identity and ctx.carries_identity(elem, vr):
                _set(ds, tag, DataElement(tag, vr, None))
                counts["identity_emptied"] += 1
                continue
            counts["kept"] += 1  # what _apply does for a kept element that is not a sequence
            continue
        _apply(ds, tag, elem, vr, code, ctx)


def _apply(ds: Dataset, tag: int, elem: Any, vr: str, code: str, ctx: DeidContext) -> None:
    ctx.counts[COUNT_NAMES[code]] += 1
    if code == "X":
        _delete(ds, tag)
    elif code == "K" or (code == "C" and vr == "TM"):
        if vr == "SQ":
            _recurse(ds, tag, ctx)
    elif vr == "SQ":
        if code == "Z":
            ds[tag] = DataElement(tag, vr, Sequence())
        else:  # D or U on a sequence: keep the items, de-identified by the same rules
            _recurse(ds, tag, ctx)
    else:
        _replace(ds, tag, elem, vr, code, ctx)


def _replace(ds: Dataset, tag: int, elem: Any, vr: str, code: str, ctx: DeidContext) -> None:
    """The Z, C, D and U actions on a non-sequence element, with the replacement shared by every
    element of the same tag, VR and (where it matters) raw value."""
    if code == "Z" or (code != "C" and (tag in PSEUDONYM_TAGS or vr != "UI")):
        key: tuple[Any, ...] = (tag, vr, code)
    else:  # C and U depend on the value
        value = elem.value if type(elem) is RawDataElement else None
        key = (tag, vr, code, value) if isinstance(value, bytes) else ()
    found = ctx.shared.get(key) if key else None
    if found is None:
        found = _replacement(tag, elem, vr, code, ctx)
        if key:
            ctx.shared[key] = found
            ctx.shared_elements[id(found[0])] = found[0]
    new, emptied = found
    if emptied:
        ctx.counts["dates_emptied"] += 1
    _set(ds, tag, new)


def _replacement(tag: int, elem: Any, vr: str, code: str, ctx: DeidContext
                 ) -> tuple[DataElement, bool]:
    if code == "Z":
        return DataElement(tag, vr, None), False
    if code == "C":
        return _shift_dates(tag, elem, vr, ctx)
    if tag in PSEUDONYM_TAGS:
        return DataElement(tag, vr, ctx.patient_pseudonym), False
    if vr == "UI":
        return DataElement(tag, vr, _one_or_many(map_uids(strings_of(elem), ctx.pseudonyms))), False
    return DataElement(tag, vr, dummy_value(vr)), False


def _delete(ds: Dataset, tag: int) -> None:
    """``del ds[tag]`` for a present tag, without pydicom's per-call tag conversion."""
    del ds._dict[BaseTag(tag)]
    if ds._private_blocks and tag >> 16 & 1 and 0x0010 <= tag & 0xFFFF < 0x0100:
        ds._private_blocks = {}  # as Dataset.__delitem__ does when a private creator goes
    if tag in PIXEL_KEYWORDS:
        ds._pixel_array = None
        ds._pixel_id = {}


def _set(ds: Dataset, tag: int, elem: DataElement) -> None:
    """``ds[tag] = elem`` replacing a present standard, non-sequence element (what
    Dataset.__setitem__ does for those); anything else goes through pydicom."""
    if tag >> 16 & 1 or tag in PIXEL_KEYWORDS or elem.VR == "SQ" or tag not in ds._dict:
        ds[tag] = elem
    else:
        ds._dict[BaseTag(tag)] = elem


def _one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _shift_dates(tag: int, elem: Any, vr: str, ctx: DeidContext) -> tuple[DataElement, bool]:
    """(the shifted element, whether it had to be emptied because a value was unshiftable)."""
    shift = shift_da if vr == "DA" else shift_dt if vr == "DT" else None
    values = strings_of(elem)
    shifted = [shift(v, ctx.date_shift_days) for v in values] if shift else [None]
    if not values or any(v is None for v in shifted):
        return DataElement(tag, vr, None), True  # unshiftable date: emptied, never kept
    return DataElement(tag, vr, _one_or_many([str(v) for v in shifted])), False


def _recurse(ds: Dataset, tag: int, ctx: DeidContext) -> None:
    for item in ds[tag].value:
        deidentify_dataset(item, ctx, top_level=False)


def _private(ds: Dataset, tag: int, elem: Any, creators: dict[tuple[int, int], str],
             ctx: DeidContext) -> None:
    """Private attributes (PS3.5 7.8): removed unless allow-listed by group, creator and offset."""
    group, element = tag >> 16, tag & 0xFFFF
    profile = ctx.profile
    if 0x0010 <= element <= 0x00FF:
        keep = (group, creators.get((group, element), "")) in profile.safe_creators
    elif element >= 0x1000:
        creator = creators.get((group, element >> 8), "")
        keep = (group, element & 0xFF, creator) in profile.safe_private
    else:
        keep = False
    if not keep:
        _delete(ds, tag)
        ctx.counts["private_removed"] += 1
        return
    if elem.VR != "SQ" and ctx.carries_identity(elem, element_vr(elem, tag)):
        _delete(ds, tag)
        ctx.counts["identity_emptied"] += 1
        return
    ctx.counts["private_kept"] += 1
    if elem.VR == "SQ":
        _recurse(ds, tag, ctx)


def deidentification_elements(profile: Profile) -> list[DataElement]:
    """What was done, as elements (PS3.15 E.1.1 items 6-7, PS3.3 C.12.1.1.7, codes of CID 7050):
    built once per series and shared by its files (they are only written, never changed)."""
    record = Dataset()
    record.PatientIdentityRemoved = "YES"
    record.DeidentificationMethod = DEID_METHOD_TEXT
    items = []
    for value, meaning in profile.method_codes():
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    record.DeidentificationMethodCodeSequence = Sequence(items)
    modified = profile.options.retain_longitudinal_modified_dates
    record.LongitudinalTemporalInformationModified = "MODIFIED" if modified else "REMOVED"
    return [record[tag] for tag in list(record.keys())]  # noqa: SIM118


def record_deidentification(ds: Dataset, elements: list[DataElement]) -> None:
    """Add the elements of :func:`deidentification_elements` to ``ds``."""
    for elem in elements:
        ds[elem.tag] = elem


def new_file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """Fresh File Meta Information (PS3.10 7.1): nothing of the input's meta survives except the
    transfer syntax; Media Storage SOP Instance UID equals the (new) SOP Instance UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(strings_of(ds.get_item(0x00080016))[0])
    meta.MediaStorageSOPInstanceUID = UID(strings_of(ds.get_item(0x00080018))[0])
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta
