"""The PS3.15 Annex E Basic Application Level Confidentiality Profile, as data.

The standard's Table E.1-1 (vendored as ``ps3.15-table-E.1-1.json``, see README.md beside it) is
read once and resolved into a plain ``dict`` tag -> action code, so applying the profile is one dict
look-up per element. Action codes (PS3.15 E.1.1, Table E.1-1 legend):

- ``D`` replace with a non-zero-length dummy value consistent with the VR,
- ``Z`` replace with a zero-length value,
- ``X`` remove,
- ``K`` keep (sequences are still processed item by item),
- ``C`` clean: here only dates, shifted by a keyed per-patient number of days (DA, DT); TM values
  are kept unchanged because a whole-day shift leaves the time of day consistent,
- ``U`` replace every UID with a keyed, consistent one.

Compound codes are resolved for the CT Image IOD (PS3.3 A.3) by the Type of the attribute there
(:data:`CT_IMAGE_IOD_TYPE`): Type 1 -> ``D`` (or ``U`` for ``X/Z/U*``), Type 2 -> ``Z``, anything
else (Type 3, or not in the IOD) -> the least-retaining choice, ``X`` (``Z`` for ``Z/D``), as the
legend of Table E.1-1 says ("X unless Z or D is required to maintain IOD conformance").

Options (PS3.15 E.3): an enabled option replaces the Basic Profile action by the option column's
action when that column has one. ``K`` is applied as is. ``C`` is applied only where this module can
clean (the dates of Retain Longitudinal Temporal Information with Modified Dates); elsewhere (free
text such as Allergies, AE titles) cleaning is not implemented and the stricter Basic action stays.

Project rules on top of the standard:

- Patient's Name and Patient ID get the keyed pseudonym (a non-zero dummy, allowed by both Z and D).
- A ``D`` on a UI attribute maps the UID (``U``): a consistent dummy keeps references valid.
- No PN value is ever kept: a ``K`` on a PN is turned into ``D``.
- Attributes not in the table: see :func:`unlisted_action` (removed unless known safe).
- ``X/Z/U*`` (Referenced Image Sequence, Source Image Sequence): always ``U``, the sequence is kept
  and every instance UID in it mapped with the same keyed function as the instances themselves, so
  relations between series survive de-identification.
- Elements stored as ``UN`` (unknown VR) are removed, whatever their tag: their value cannot be
  checked reliably.
- Private attributes (odd groups) are removed unless on the explicit safe-private allow-list.
- Overlays (60xx) and curves (50xx) are removed whole, every element of the group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydicom.datadict import dictionary_VR, tag_for_keyword

from pipeline.errors import ConfigError

TABLE_PATH = Path(__file__).with_name("ps3.15-table-E.1-1.json")
ACTION_CODES: tuple[str, ...] = ("D", "Z", "X", "K", "C", "U")
COMPOUND_CODES: tuple[str, ...] = ("X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*")

# Option -> column of Table E.1-1 and code of CID 7050 "De-identification Method" (PS3.16).
OPTION_COLUMNS: dict[str, str] = {
    "retain_longitudinal_modified_dates": "rtnLongModifDatesOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_device_identity": "rtnDevIdOpt",
}
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES: dict[str, tuple[str, str]] = {
    "retain_longitudinal_modified_dates": (
        "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
}

# Type of the attributes with a compound code in the CT Image IOD (PS3.3 A.3: Patient C.7.1.1,
# General Study C.7.2.1, General Series C.7.3.1, General Equipment C.7.5.1, General Image
# C.7.6.1, Contrast/Bolus C.7.6.4). Type 2C attributes whose condition holds for CT are listed as
# "2"; Patient's Sex Neutered (2C, animals only) and every attribute not listed here are Type 3 or
# not in the IOD.
CT_IMAGE_IOD_TYPE: dict[int, str] = {
    0x00100020: "2",  # Patient ID
    0x00080023: "2",  # Content Date (2C: images temporally related, true for CT)
    0x00080033: "2",  # Content Time (2C)
    0x00180010: "2",  # Contrast/Bolus Agent (module present when contrast was used)
}

PSEUDONYM_TAGS: frozenset[int] = frozenset({0x00100010, 0x00100020})  # PatientName, PatientID

# UI attributes that name a class or a syntax, not an instance: never mapped.
CLASS_UID_TAGS: frozenset[int] = frozenset(
    tag_for_keyword(k) or 0 for k in (
        "SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
        "ImplementationClassUID", "CodingSchemeUID", "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID", "ReferencedSOPClassUIDInFile",
        "ReferencedTransferSyntaxUIDInFile", "SOPClassesInStudy", "MappingResourceUID",
        "ContextGroupExtensionCreatorUID", "AffectedSOPClassUID", "RequestedSOPClassUID",
    )) - {0}

# Standard attributes that Table E.1-1 does not list and that are known to carry no identity: the
# technical description of a CT image that resampling, display and quality control need. Every
# other unlisted attribute is removed (see :func:`unlisted_action`); text values kept here are still
# scrubbed of any identifying value of the input (:mod:`.actions`, identity copied into kept text).
SAFE_UNLISTED_KEYWORDS: dict[str, tuple[str, ...]] = {
    "SOP Common C.12.1": ("SpecificCharacterSet", "SOPClassUID", "InstanceNumber",
                          "PatientIdentityRemoved", "DeidentificationMethod",
                          "DeidentificationMethodCodeSequence",
                          "LongitudinalTemporalInformationModified"),
    "General Series C.7.3.1": ("Modality", "SeriesNumber", "PatientPosition", "BodyPartExamined",
                               "Laterality"),
    "General Equipment C.7.5.1": ("Manufacturer", "ManufacturerModelName", "SoftwareVersions",
                                  "SpatialResolution"),
    "Frame of Reference C.7.4.1": ("PositionReferenceIndicator",),
    "General Image C.7.6.1": ("ImageType", "AcquisitionNumber", "PatientOrientation",
                              "ImagesInAcquisition", "QualityControlImage",
                              "BurnedInAnnotation", "RecognizableVisualFeatures",
                              "LossyImageCompression", "LossyImageCompressionRatio",
                              "LossyImageCompressionMethod", "PresentationLUTShape"),
    "Image Plane C.7.6.2": ("PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient",
                            "SliceThickness", "SpacingBetweenSlices", "SliceLocation"),
    "Image Pixel C.7.6.3": ("SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns",
                            "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                            "PlanarConfiguration", "PixelAspectRatio", "SmallestImagePixelValue",
                            "LargestImagePixelValue", "PixelPaddingValue",
                            "PixelPaddingRangeLimit", "NumberOfFrames"),
    "CT Image C.8.2.1": ("KVP", "ScanOptions", "DataCollectionDiameter", "ReconstructionDiameter",
                         "DistanceSourceToDetector", "DistanceSourceToPatient",
                         "GantryDetectorTilt", "TableHeight", "RotationDirection",
                         "ExposureTime", "XRayTubeCurrent", "Exposure", "ExposureInuAs",
                         "FilterType", "GeneratorPower", "FocalSpots", "ConvolutionKernel",
                         "RevolutionTime", "SingleCollimationWidth", "TotalCollimationWidth",
                         "TableSpeed", "TableFeedPerRotation", "SpiralPitchFactor",
                         "ExposureModulationType", "CTDIvol", "DataCollectionCenterPatient",
                         "ReconstructionTargetCenterPatient", "RescaleIntercept", "RescaleSlope",
                         "RescaleType", "AcquisitionType", "ReconstructionMethod",
                         "VolumetricProperties", "VolumeBasedCalculationTechnique",
                         "ComplexImageComponent", "AcquisitionContrast", "PixelPresentation"),
    "Contrast/Bolus C.7.6.4": ("ContrastBolusRoute", "ContrastBolusVolume",
                               "ContrastBolusTotalDose", "ContrastFlowRate",
                               "ContrastFlowDuration", "ContrastBolusIngredient",
                               "ContrastBolusIngredientConcentration"),
    "VOI LUT C.11.2 / Modality LUT C.11.1": ("WindowCenter", "WindowWidth",
                                             "WindowCenterWidthExplanation", "VOILUTFunction",
                                             "VOILUTSequence", "ModalityLUTSequence",
                                             "LUTDescriptor", "LUTExplanation", "ModalityLUTType",
                                             "LUTData"),
    "References (Image SOP Instance Reference Macro, PS3.3 10.3)": (
        "ReferencedSeriesSequence", "ReferencedInstanceSequence", "ReferencedSOPClassUID",
        "ReferencedFrameNumber", "ReferencedSegmentNumber", "PurposeOfReferenceCodeSequence",
        "SpatialLocationsPreserved"),
    "Code Sequence Macro (PS3.3 8.8)": ("CodeValue", "CodingSchemeDesignator",
                                        "CodingSchemeVersion", "CodeMeaning", "LongCodeValue",
                                        "URNCodeValue", "ContextIdentifier", "ContextUID",
                                        "MappingResource", "MappingResourceName"),
    "Frame of Reference Transformation": ("FrameOfReferenceTransformationComment",),
    "File Meta Information (PS3.10 7.1, rebuilt on output)": ("ImplementationVersionName",),
}
SAFE_UNLISTED_TAGS: frozenset[int] = frozenset(
    tag_for_keyword(k) or 0 for group in SAFE_UNLISTED_KEYWORDS.values() for k in group) - {0}

FREE_TEXT_VRS: frozenset[str] = frozenset({"LO", "LT", "ST", "UT", "SH", "UC", "UR", "AE"})
DATE_VRS: frozenset[str] = frozenset({"DA", "DT", "TM"})
_TAG_RE = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)")
_SAFE_PRIVATE_RE = re.compile(r"^([0-9A-Fa-f]{4}),[xX]{2}([0-9A-Fa-f]{2}):(.+)$")


@dataclass(frozen=True)
class TableEntry:
    """One row of Table E.1-1: ``tag`` is None for the repeating-group and private rows."""

    name: str
    tag_text: str
    tag: int | None
    basic: str
    options: Mapping[str, str]


@lru_cache(maxsize=1)
def load_standard_table(path: Path = TABLE_PATH) -> tuple[TableEntry, ...]:
    """Read the vendored Table E.1-1 (PS3.15 Annex E) into :class:`TableEntry` rows."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = []
    for row in rows:
        match = _TAG_RE.fullmatch(row["tag"])
        tag = int(match[1] + match[2], 16) if match else None
        options = {k: v for k, v in row.items()
                   if k.endswith("Opt") and isinstance(v, str) and v}
        entries.append(TableEntry(row["name"], row["tag"], tag, row["basicProfile"], options))
    return tuple(entries)


def resolve_compound(code: str, iod_type: str | None) -> str:
    """Resolve a Table E.1-1 action for an attribute of IOD Type ``iod_type`` ("1", "2", "3"/None).

    ``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``: Type 1 -> D (if offered), Type 2 -> Z (if offered, else
    D), otherwise the first choice. ``X/Z/U*``: Type 1 -> U (the sequence is kept, its UIDs
    replaced), Type 2 -> Z, otherwise X. Simple codes are returned unchanged.
    """
    if "/" not in code:
        return code
    choices = [c.rstrip("*") for c in code.split("/")]
    if iod_type == "1":
        for wanted in ("U", "D", "Z"):
            if wanted in choices:
                return wanted
    if iod_type == "2":
        return "Z" if "Z" in choices else choices[-1]
    return choices[0]


def vr_of(tag: int) -> str:
    """The dictionary VR of a standard tag (first choice of ambiguous VRs), ``UN`` if unknown."""
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    return vr.split(" or ")[0]


def is_overlay_or_curve(group: int) -> bool:
    """Repeating groups 50xx (curves) and 60xx (overlays), even groups only (PS3.5 7.6)."""
    return (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF) and group % 2 == 0


@dataclass(frozen=True)
class SafePrivate:
    """An allow-listed private attribute ``(gggg,xxee)`` reserved by ``creator`` (PS3.5 7.8.1)."""

    group: int
    element_offset: int
    creator: str


def parse_safe_private(entry: str) -> SafePrivate:
    """Parse ``"gggg,xxee:Private Creator"`` (the notation of PS3.15 Table E.3.10-1)."""
    match = _SAFE_PRIVATE_RE.match(entry.strip())
    if not match or int(match[1], 16) % 2 == 0:
        raise ConfigError("anonymize.retain_safe_private entries must look like "
                          f"'0019,xx0C:SIEMENS MR HEADER' (odd group), got {entry!r}")
    return SafePrivate(int(match[1], 16), int(match[2], 16), match[3].strip())


@dataclass(frozen=True)
class ProfileOptions:
    """Which PS3.15 E.3 options are on; ``safe_private`` empty means the option is off."""

    retain_longitudinal_modified_dates: bool = False
    retain_patient_characteristics: bool = False
    retain_device_identity: bool = False
    safe_private: tuple[SafePrivate, ...] = ()

    @classmethod
    def from_entries(cls, retain_longitudinal_modified_dates: bool,
                     retain_patient_characteristics: bool, retain_device_identity: bool,
                     retain_safe_private: Iterable[str]) -> ProfileOptions:
        """Build from the ``anonymize:`` params (safe-private entries as strings)."""
        return cls(retain_longitudinal_modified_dates, retain_patient_characteristics,
                   retain_device_identity,
                   tuple(parse_safe_private(e) for e in retain_safe_private))

    def enabled(self) -> list[str]:
        """Names of the enabled options, in :data:`OPTION_CODES` order."""
        on = [name for name in OPTION_COLUMNS if getattr(self, name)]
        return on + (["retain_safe_private"] if self.safe_private else [])


def table_action(entry: TableEntry, options: ProfileOptions) -> str:
    """The action the standard's row gives under ``options``, before project rules.

    Compound codes resolved for the CT Image IOD; an enabled option's K overrides; its C is kept
    only for DA/DT/TM (date shifting is the only cleaning implemented).
    """
    action = resolve_compound(entry.basic, CT_IMAGE_IOD_TYPE.get(entry.tag or -1))
    if "U*" in entry.basic:
        action = "U"  # references kept, mapped (module docstring, project rules)
    for name, column in OPTION_COLUMNS.items():
        opt = entry.options.get(column)
        if not getattr(options, name) or opt is None:
            continue
        if opt == "K" or (opt == "C" and entry.tag is not None and vr_of(entry.tag) in DATE_VRS):
            action = opt
    return action


@dataclass(frozen=True)
class Profile:
    """The resolved profile: ``actions`` maps every listed standard tag to D/Z/X/K/C/U."""

    actions: Mapping[int, str]
    options: ProfileOptions
    safe_private: frozenset[tuple[int, int, str]] = field(default_factory=frozenset)
    safe_creators: frozenset[tuple[int, str]] = field(default_factory=frozenset)

    def action(self, tag: int, vr: str) -> str:
        """Action for a standard (even-group) element; private ones are handled by the applier."""
        code = self.actions.get(tag)
        if vr == "UN":
            return "X"
        if code is None:
            return unlisted_action(tag, vr, self.options.retain_longitudinal_modified_dates)
        if vr == "PN" and code == "K":
            return "D"
        return code

    def method_codes(self) -> list[tuple[str, str]]:
        """(code value, meaning) of CID 7050 for the Basic Profile and each enabled option."""
        return [BASIC_PROFILE_CODE] + [OPTION_CODES[name] for name in self.options.enabled()]


def unlisted_action(tag: int, vr: str, shift_dates: bool) -> str:
    """Action for a standard attribute that Table E.1-1 does not list: removed unless known safe.

    Overlays/curves, group lengths and anything stored as ``UN`` -> X; PN -> D; UI -> U (a keyed
    UID carries no identity) unless a class/syntax UID (K); DA, DT, TM -> C when dates are
    shifted, else X; an attribute of :data:`SAFE_UNLISTED_TAGS` -> K (sequences are still
    processed item by item); everything else (any other text, number, binary value or sequence,
    an unknown even tag) -> X.
    """
    group, element = tag >> 16, tag & 0xFFFF
    if is_overlay_or_curve(group) or (element == 0 and group != 0x0002) or vr == "UN":
        return "X"
    if vr == "PN":
        return "D"
    if vr == "UI":
        return "K" if tag in CLASS_UID_TAGS else "U"
    if vr in DATE_VRS:
        return "C" if shift_dates else "X"
    return "K" if tag in SAFE_UNLISTED_TAGS else "X"


def build_profile(options: ProfileOptions) -> Profile:
    """Resolve Table E.1-1 under ``options`` into a :class:`Profile` (see the module docstring)."""
    actions: dict[int, str] = {}
    for entry in load_standard_table():
        if entry.tag is None:
            continue  # repeating groups and private attributes: rules in the applier
        code = table_action(entry, options)
        vr = vr_of(entry.tag)
        if entry.tag in PSEUDONYM_TAGS:
            code = "D"
        elif vr == "UI" and code == "D":
            code = "U"
        elif vr == "PN" and code == "K":
            code = "D"
        actions[entry.tag] = code
    safe = frozenset((s.group, s.element_offset, s.creator) for s in options.safe_private)
    creators = frozenset((s.group, s.creator) for s in options.safe_private)
    return Profile(actions, options, safe, creators)
