"""De-identify a cohort series by series, in parallel, and verify every output file.

A series is the unit of work (:func:`anonymize_series`, a picklable task for
:func:`pipeline.parallel.map_items`): each file is read once, de-identified on its raw elements,
written as ``dicom/<new series UID>/<NNNN>.dcm`` (stack order) with its Pixel Data element copied
byte for byte, in the same transfer syntax, and verified (:mod:`pipeline.dicom.deid.verify`) on the
exact bytes written before Pixel Data and on its path. A series that cannot be passed on safely
(burned-in text, unreadable file, unsupported transfer syntax) is quarantined whole, with a reason
and its new UID only.
"""

from __future__ import annotations

import io
import logging
import shutil
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.fileutil import read_undefined_length_value
from pydicom.tag import BaseTag, SequenceDelimiterTag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from pipeline.config import AnonymizeParams
from pipeline.dicom.deid.actions import (
    PIXEL_DATA,
    DeidContext,
    deidentification_elements,
    deidentify_dataset,
    new_file_meta,
    record_deidentification,
)
from pipeline.dicom.deid.profile import Profile, ProfileOptions, build_profile
from pipeline.dicom.deid.pseudonyms import Pseudonymizer
from pipeline.dicom.deid.screen import burned_in_reason
from pipeline.dicom.deid.values import first_text
from pipeline.dicom.deid.verify import (
    IdentifierCollector,
    VerifySpec,
    build_matcher,
    build_verify_spec,
    header_bytes_locations,
)
from pipeline.dicom.deid.writer import EncodedCache, encode_file, encode_pixel_element
from pipeline.parallel import ExecutorParams, map_items

log = logging.getLogger(__name__)

SERIES_COLUMNS = ("series_uid", "patient_id", "study_uid", "n_slices", "slice_spacing_mm", "files")
QUARANTINE_COLUMNS = ("item", "reason")
UNSUPPORTED_SYNTAXES: dict[str, str] = {
    DeflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian",
    ExplicitVRBigEndian: "Explicit VR Big Endian (retired)",
}
SERIES_UID, STUDY_UID, PATIENT_ID = 0x0020000E, 0x0020000D, 0x00100020
PATIENT_NAME, BIRTH_DATE = 0x00100010, 0x00100030
DEFER_BYTES = 65536  # larger values are not copied while reading (only Pixel Data, in practice)
_GROUPING_TAGS = ["SeriesInstanceUID", "ImagePositionPatient", "ImageOrientationPatient",
                  "InstanceNumber"]


@dataclass(frozen=True)
class DeidSettings:
    """What every series task needs: the resolved profile, the verifier's spec and the key."""

    profile: Profile
    spec: VerifySpec
    key: bytes
    key_id: str
    uid_root: str
    max_date_shift_days: int

    @classmethod
    def from_params(cls, params: AnonymizeParams, key: bytes) -> DeidSettings:
        options = ProfileOptions.from_entries(
            params.retain_longitudinal_modified_dates, params.retain_patient_characteristics,
            params.retain_device_identity, params.retain_safe_private)
        return cls(build_profile(options), build_verify_spec(options), key, params.key_id,
                   params.uid_root, params.max_date_shift_days)

    def pseudonymizer(self) -> Pseudonymizer:
        return Pseudonymizer(self.key, self.uid_root)


@dataclass(frozen=True)
class SeriesSource:
    """One input series: original UID, files relative to the input root in stack order."""

    series_uid: str
    rel_paths: tuple[str, ...]
    slice_spacing_mm: str = ""


@dataclass(frozen=True)
class SeriesJob:
    source: SeriesSource
    input_root: str
    output_root: str
    settings: DeidSettings


@dataclass
class SeriesOutcome:
    """What one series gave: a series.csv row (pseudonymous) or quarantine rows, counts, leaks."""

    row: dict[str, object] | None
    quarantine: list[tuple[str, str]]
    counts: Counter[str]
    files_written: int = 0
    files_quarantined: int = 0
    leaks: list[tuple[str, str]] = field(default_factory=list)
    identifiers: int = 0


def serialize(ds: Dataset, transfer_syntax: str, pixel: object = None,
              cache: EncodedCache | None = None) -> tuple[bytes, list[bytes | memoryview]]:
    """(everything before Pixel Data, the Pixel Data element as chunks) in ``transfer_syntax``.

    Byte-identical to ``ds.save_as(enforce_file_format=True)`` of ``ds`` without its Pixel Data,
    followed by pydicom's encoding of the Pixel Data element (:mod:`.writer`). Pixel Data
    (``pixel``, else the dataset's) is written from its raw bytes (never decoded or copied), so
    native and encapsulated pixels come out byte-identical (PS3.5 A.4 for encapsulated
    fragments).
    """
    if pixel is None and PIXEL_DATA in ds:
        pixel = ds.get_item(PIXEL_DATA)
    if PIXEL_DATA in ds:
        del ds[PIXEL_DATA]
    head = encode_file(ds, cache)
    if pixel is None:
        return head, []
    return head, encode_pixel_element(pixel, transfer_syntax == ImplicitVRLittleEndian)


def read_file(data: bytes) -> Dataset:
    """``data`` parsed as ``pydicom.dcmread(io.BytesIO(data))`` would, but without copying a large
    Pixel Data value out of ``data`` (see :func:`pixel_element`). Should any other element be
    large enough to be deferred, the file is simply read again without deferring."""
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=DEFER_BYTES)
    for tag, elem in ds._dict.items():
        if type(elem) is RawDataElement and elem.value is None and tag != PIXEL_DATA:
            return pydicom.dcmread(io.BytesIO(data))
    return ds


def pixel_element(ds: Dataset, data: bytes) -> DataElement | RawDataElement | None:
    """The top-level Pixel Data element of a dataset from :func:`read_file`, its value a view into
    ``data`` (the bytes a plain read would hold); None if absent."""
    elem = ds._dict.get(BaseTag(PIXEL_DATA))
    if type(elem) is not RawDataElement or elem.value is not None:
        return ds.get_item(PIXEL_DATA) if elem is not None else None
    value: Any
    if elem.length != 0xFFFFFFFF:
        value = memoryview(data)[elem.value_tell:elem.value_tell + elem.length]
    else:
        fp = io.BytesIO(data)
        fp.seek(elem.value_tell)
        value = read_undefined_length_value(fp, elem.is_little_endian, SequenceDelimiterTag, None)
    return elem._replace(value=value)


def _patient_key(ds: Dataset) -> str:
    pid = first_text(ds, PATIENT_ID)
    if pid:
        return pid
    return "name:" + first_text(ds, PATIENT_NAME) + "|" + first_text(ds, BIRTH_DATE)


def anonymize_series(job: SeriesJob) -> SeriesOutcome:
    """De-identify, write and verify one series (see the module docstring)."""
    settings, src = job.settings, job.source
    ps = settings.pseudonymizer()
    new_series = ps.uid(src.series_uid)
    item = f"series:{new_series}"
    series_dir = Path(job.output_root) / "dicom" / new_series
    collector = IdentifierCollector(settings.spec)
    ctx: DeidContext | None = None
    written: list[tuple[str, bytes]] = []
    study = ""
    record = deidentification_elements(settings.profile)
    encoded = EncodedCache(record)

    def quarantine(reason: str) -> SeriesOutcome:
        shutil.rmtree(series_dir, ignore_errors=True)
        return SeriesOutcome(None, [(item, reason)], Counter(),
                             files_quarantined=len(src.rel_paths))

    series_dir.mkdir(parents=True, exist_ok=True)
    for k, rel in enumerate(src.rel_paths):
        try:
            data = (Path(job.input_root) / rel).read_bytes()
            ds = read_file(data)
            syntax = str(ds.file_meta.TransferSyntaxUID)
        except Exception as exc:  # any unreadable file makes the series unsafe to pass on
            return quarantine(f"unreadable file: file {k} of the series ({type(exc).__name__})")
        if syntax in UNSUPPORTED_SYNTAXES:
            return quarantine(f"unsupported transfer syntax: {UNSUPPORTED_SYNTAXES[syntax]}")
        reason = burned_in_reason(ds)
        if reason:
            return quarantine(f"burned-in annotation risk: {reason} (file {k} of the series)")
        if first_text(ds, SERIES_UID) != src.series_uid:
            return quarantine(f"mixed series: file {k} has another SeriesInstanceUID")
        if ctx is None:
            key = _patient_key(ds)
            ctx = DeidContext(settings.profile, ps, ps.patient_id(key),
                              ps.date_shift_days(key, settings.max_date_shift_days))
            encoded.share(ctx.shared_elements)
            study = ps.uid(first_text(ds, STUDY_UID)) if first_text(ds, STUDY_UID) else ""
        collector.add_file(ds, rel)
        deidentify_dataset(ds, ctx)
        record_deidentification(ds, record)
        ds.file_meta = new_file_meta(ds, syntax)
        head, pixel = serialize(ds, syntax, pixel_element(ds, data), encoded)
        out_rel = f"dicom/{new_series}/{k:04d}.dcm"
        with open(Path(job.output_root) / out_rel, "wb") as fh:
            fh.write(head)
            for chunk in pixel:
                fh.write(chunk)
        written.append((out_rel, head))
    if ctx is None:
        return quarantine("series has no files")
    row: dict[str, object] = {
        "series_uid": new_series, "patient_id": ctx.patient_pseudonym, "study_uid": study,
        "n_slices": len(written), "slice_spacing_mm": src.slice_spacing_mm,
        "files": "|".join(rel for rel, _ in written)}
    produced = [ctx.patient_pseudonym, *(m for _, m in settings.profile.method_codes())]
    matcher = build_matcher(collector.identifiers, collector.kept, collector.codecs, produced)
    leaks = []
    for out_rel, head in written:
        hits = matcher.find(head) + matcher.find(out_rel.encode("utf-8"))
        if hits:
            leaks.append((out_rel, ", ".join(header_bytes_locations(head, hits))))
    if matcher.find(",".join(str(v) for v in row.values()).encode("utf-8")):
        leaks.append(("series.csv", f"row of {new_series}"))
    return SeriesOutcome(row, [], ctx.counts, len(written), 0, leaks, matcher.size)


@dataclass
class CohortReport:
    """The cohort's outcome; ``uid_map`` (original -> new series UID) stays in memory only."""

    series: pd.DataFrame
    quarantine: pd.DataFrame
    counts: Counter[str]
    files_written: int
    files_quarantined: int
    leaks: list[tuple[str, str]]
    identifiers_checked: int
    uid_map: dict[str, str]


def anonymize_cohort(sources: Sequence[SeriesSource], input_root: Path, output_root: Path,
                     settings: DeidSettings, executor: ExecutorParams,
                     quarantine: Sequence[tuple[str, str]] = ()) -> CohortReport:
    """Run :func:`anonymize_series` over ``sources`` (results in input order, any executor)."""
    jobs = [SeriesJob(s, str(input_root), str(output_root), settings) for s in sources]
    outcomes = map_items(anonymize_series, jobs, executor, desc="series")
    counts: Counter[str] = Counter()
    rows, q_rows, leaks, uid_map = [], list(quarantine), [], {}
    for src, out in zip(sources, outcomes, strict=True):
        counts.update(out.counts)
        q_rows.extend(out.quarantine)
        leaks.extend(out.leaks)
        if out.row is not None:
            rows.append(out.row)
            uid_map[src.series_uid] = str(out.row["series_uid"])
    for file, where in leaks:
        log.error("identifying value left in %s at %s", file, where)
    series = pd.DataFrame(rows, columns=list(SERIES_COLUMNS)).sort_values("series_uid")
    q_frame = pd.DataFrame(q_rows, columns=list(QUARANTINE_COLUMNS)).sort_values(
        list(QUARANTINE_COLUMNS))
    return CohortReport(series.reset_index(drop=True), q_frame.reset_index(drop=True), counts,
                        sum(o.files_written for o in outcomes),
                        sum(o.files_quarantined for o in outcomes), leaks,
                        sum(o.identifiers for o in outcomes), uid_map)


def sources_from_series_table(table: pd.DataFrame) -> list[SeriesSource]:
    """Series from ingest's ``series.csv`` (``files`` relative to the input, ``|``-joined)."""
    return [SeriesSource(str(r.series_uid), tuple(str(r.files).split("|")),
                         "" if pd.isna(r.slice_spacing_mm) else str(r.slice_spacing_mm))
            for r in table.itertuples(index=False)]


def _grouping_header(job: tuple[str, str]) -> tuple[str, str, tuple[float, ...], int]:
    """(series UID, IPP + IOP floats, InstanceNumber) of one file; a picklable task."""
    root, rel = job
    try:
        ds = pydicom.dcmread(Path(root) / rel, stop_before_pixels=True,
                             specific_tags=_GROUPING_TAGS)
    except Exception as exc:
        return ("", f"not readable as DICOM: {type(exc).__name__}", (), 0)
    uid = str(ds.get("SeriesInstanceUID", "") or "")
    try:
        geometry = tuple(float(v) for v in [*ds.ImagePositionPatient, *ds.ImageOrientationPatient])
    except (AttributeError, TypeError, ValueError):
        geometry = ()
    number = ds.get("InstanceNumber")
    return (uid, "" if uid else "no SeriesInstanceUID (not an image)", geometry,
            int(number) if isinstance(number, (int, float)) or str(number).isdigit() else 0)


def group_folder(root: Path, ps: Pseudonymizer, executor: ExecutorParams
                 ) -> tuple[list[SeriesSource], list[tuple[str, str]]]:
    """Group every file under ``root`` by SeriesInstanceUID (headers only) into stack order.

    Slices are ordered by position along the slice normal when every file has IPP/IOP, else by
    InstanceNumber. Unreadable files become quarantine rows named by a keyed hash of their path.
    """
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    headers = map_items(_grouping_header, [(str(root), r) for r in rels], executor,
                        desc="headers", chunksize=32)
    groups: dict[str, list[tuple[str, tuple[float, ...], int]]] = {}
    rejected = []
    for rel, (uid, reason, geometry, number) in zip(rels, headers, strict=True):
        if reason:
            rejected.append((f"file:{ps.tag(rel)}", reason))
        else:
            groups.setdefault(uid, []).append((rel, geometry, number))
    return [_ordered(uid, files) for uid, files in sorted(groups.items())], rejected


def _ordered(uid: str, files: list[tuple[str, tuple[float, ...], int]]) -> SeriesSource:
    spacing = ""
    if all(len(g) == 9 for _, g, _ in files):
        normal = np.cross(files[0][1][3:6], files[0][1][6:9])
        keyed = sorted(files, key=lambda f: (float(np.dot(f[1][:3], normal)), f[2], f[0]))
        z = [float(np.dot(f[1][:3], normal)) for f in keyed]
        if len(z) > 1:
            spacing = f"{statistics.median(np.diff(z)):.6g}"
    else:
        keyed = sorted(files, key=lambda f: (f[2], f[0]))
    return SeriesSource(uid, tuple(f[0] for f in keyed), spacing)


def map_series_table(frame: pd.DataFrame, uid_map: dict[str, str], column: str = "seriesuid"
                     ) -> tuple[pd.DataFrame, int]:
    """Map ``column`` through the keyed UIDs; rows of series not kept are dropped (and counted)."""
    keep = frame[column].astype(str).isin(uid_map)
    out = frame.loc[keep].copy()
    out[column] = out[column].astype(str).map(uid_map)
    return out.reset_index(drop=True), int((~keep).sum())


def cohort_metrics(report: CohortReport, settings: DeidSettings,
                   dropped: dict[str, int]) -> dict[str, object]:
    """Counts only (never values): files, series, actions, quarantine, leaks, key_id, options."""
    reasons = Counter(r.split(":")[0].split(" (")[0] for r in report.quarantine["reason"])
    return {
        "files": report.files_written, "series": len(report.series),
        "files_quarantined": report.files_quarantined,
        "items_quarantined": len(report.quarantine), "quarantine_by_reason": dict(reasons),
        "attributes": dict(sorted(report.counts.items())), "leaks_found": len(report.leaks),
        "identifiers_checked": report.identifiers_checked, "key_id": settings.key_id,
        "profile": {"options": settings.profile.options.enabled(),
                    "codes": [c for c, _ in settings.profile.method_codes()],
                    "uid_root": settings.uid_root,
                    "max_date_shift_days": settings.max_date_shift_days},
        "rows_dropped": dropped,
    }
