"""De-identify a cohort series by series, in parallel, and verify every output file.

A series is the unit of work (:func:`anonymize_series`, a picklable task for
:func:`pipeline.parallel.map_items`): each file is read once, de-identified on its raw elements,
written as ``dicom/<new series UID>/<NNNN>.dcm`` (stack order) with its Pixel Data element copied
byte for byte, and verified (:mod:`pipeline.dicom.deid.verify`) on the exact bytes written before
Pixel Data, on every decoded text value and on its path. The preamble is always zeroed; elements
after the end of the data set (after Pixel Data, or out of ascending tag order: trailing bytes)
and padding (FFFC,FFFC) are dropped. Little-endian inputs keep their transfer syntax; Deflated
Explicit VR Little Endian and Explicit VR Big Endian inputs are written as Explicit VR Little
Endian (big-endian words byte-swapped).

Fail closed per series: a series that cannot be passed on safely is quarantined whole, never a
single slice of it, with a reason and its new UID only (the input paths go to a separate local
table, :attr:`CohortReport.quarantine_paths`): burned-in text risk, a structured report (its
content tree holds free text, names and dates this profile does not clean), an unreadable file, a
slice ingest would reject (plain-folder mode: truncated or missing Pixel Data, an absurd pixel
module...), or any error while de-identifying one of its files.
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
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from pipeline.dicom.deid.actions import (
    PIXEL_DATA,
    DeidContext,
    deidentification_elements,
    deidentify_dataset,
    new_file_meta,
    record_deidentification,
)
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.dicom.deid.profile import Profile, ProfileOptions, build_profile
from pipeline.dicom.deid.pseudonyms import KeySource, Pseudonymizer
from pipeline.dicom.deid.screen import burned_in_reason
from pipeline.dicom.deid.values import FoldedNeedles, first_text, python_codecs
from pipeline.dicom.deid.verify import (
    IdentifierCollector,
    VerifySpec,
    build_matcher,
    build_verify_spec,
    header_bytes_locations,
    output_texts,
)
from pipeline.dicom.deid.writer import EncodedCache, encode_file, encode_pixel_element
from pipeline.dicom.read import read_header
from pipeline.dicom.scan import chunk_paths, reason_category, walk_files
from pipeline.parallel import ExecutorParams, map_items
from pipeline.tables import ANONYMIZED_SERIES, Table

log = logging.getLogger(__name__)

SERIES_COLUMNS = ANONYMIZED_SERIES.names  # series.csv (in pipeline.tables: resample reads it)
#: ``quarantine.csv``: what was not written and why, named by new UID or keyed hash (no identity)
QUARANTINE = Table("quarantine.csv", "anonymize", (("item", "text"), ("reason", "text")))
QUARANTINE_COLUMNS = QUARANTINE.names
#: ``OUTPUT.quarantine-paths.csv`` beside the output (local, never cached): item -> input path
QUARANTINE_PATHS = Table("quarantine-paths.csv", "anonymize (local)",
                         (("item", "text"), ("path", "text")))
QUARANTINE_PATH_COLUMNS = QUARANTINE_PATHS.names
# Input transfer syntax -> the one written (the others are written as read).
REENCODED_SYNTAXES: dict[str, str] = {
    DeflatedExplicitVRLittleEndian: ExplicitVRLittleEndian,
    ExplicitVRBigEndian: ExplicitVRLittleEndian,
}
STRUCTURED_REPORT_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_SWAP_UNIT = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
SERIES_UID, STUDY_UID, PATIENT_ID = 0x0020000E, 0x0020000D, 0x00100020
PATIENT_NAME, BIRTH_DATE = 0x00100010, 0x00100030
DEFER_BYTES = 65536  # larger values are not copied while reading (only Pixel Data, in practice)


@dataclass(frozen=True)
class DeidSettings:
    """What every series task needs: the resolved profile, the verifier's spec and where to read
    the key (:class:`~pipeline.dicom.deid.pseudonyms.KeySource`, never the key itself, so a task
    can be pickled and printed without revealing it)."""

    profile: Profile
    spec: VerifySpec
    key_source: KeySource
    key_id: str
    uid_root: str
    max_date_shift_days: int

    @classmethod
    def from_params(cls, params: AnonymizeParams, key_source: KeySource) -> DeidSettings:
        """``key_id`` is the demo key's fixed id when the demo key is used, else params'."""
        options = ProfileOptions.from_entries(
            params.retain_longitudinal_modified_dates, params.retain_patient_characteristics,
            params.retain_device_identity, params.retain_safe_private)
        return cls(build_profile(options), build_verify_spec(options), key_source,
                   key_source.key_id or params.key_id, params.uid_root,
                   params.max_date_shift_days)

    def pseudonymizer(self) -> Pseudonymizer:
        """Keyed pseudonyms; the key is read here, in the process that runs the task."""
        return Pseudonymizer(self.key_source.load(), self.uid_root)


@dataclass(frozen=True)
class SeriesSource:
    """One input series: original UID, files relative to the input root in stack order."""

    series_uid: str
    rel_paths: tuple[str, ...]
    slice_spacing_mm: str = ""
    reject_reason: str = ""  # set when a slice cannot be used: the series is quarantined whole


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


def read_file(data: bytes) -> tuple[Dataset, DataElement | RawDataElement | None, str]:
    """``(dataset, Pixel Data element or None, input transfer syntax)`` of a file's bytes.

    Parsed as ``pydicom.dcmread(io.BytesIO(data))`` would, but without copying a large Pixel
    Data value out of ``data`` (see :func:`pixel_element`); deflated files, and files where
    another element was large enough to be deferred, are read again in full. Elements after the
    end of the data set are dropped (:func:`drop_trailing_elements`); a big-endian data set is
    converted to little endian in memory (:func:`to_little_endian`).
    """
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=DEFER_BYTES)
    pixel: DataElement | RawDataElement | None
    syntax = str(ds.file_meta.TransferSyntaxUID)
    deferred = any(type(e) is RawDataElement and e.value is None and t != PIXEL_DATA
                   for t, e in ds._dict.items())
    if deferred or syntax in REENCODED_SYNTAXES:
        ds = pydicom.dcmread(io.BytesIO(data))
        drop_trailing_elements(ds)
        pixel = ds.get_item(PIXEL_DATA) if PIXEL_DATA in ds else None
    else:
        drop_trailing_elements(ds)
        pixel = pixel_element(ds, data)
    if syntax == ExplicitVRBigEndian:
        pixel = to_little_endian(ds)
    return ds, pixel, syntax


def drop_trailing_elements(ds: Dataset) -> int:
    """Remove the top-level elements read from bytes after the end of the data set: everything
    after Pixel Data and everything from the first element out of ascending tag order (PS3.5 7.1
    requires ascending order, so such an element is trailing garbage). Returns how many."""
    previous = -1
    drop: list[BaseTag] = []
    for tag in list(ds._dict):
        if drop or int(tag) <= previous or previous == PIXEL_DATA:
            drop.append(tag)
        previous = max(previous, int(tag))
    for tag in drop:
        del ds._dict[tag]
    return len(drop)


def to_little_endian(ds: Dataset) -> DataElement | None:
    """Convert a data set read as Explicit VR Big Endian to little endian, in place, recursively:
    every element is decoded (numbers, tags), words of OW/OF/OL/OD/OV values are byte-swapped
    (Pixel Data by BitsAllocated). Returns the converted Pixel Data element, if any."""
    bits = ds.get("BitsAllocated", 16) or 16
    for tag in list(ds._dict):
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                to_little_endian(item)
            continue
        unit = _SWAP_UNIT.get(elem.VR)
        if unit and isinstance(elem.value, (bytes, bytearray)):
            if int(tag) == PIXEL_DATA and bits in (16, 32, 64):
                unit = bits // 8
            words = np.frombuffer(bytes(elem.value), dtype=f">u{unit}")
            elem.value = words.astype(f"<u{unit}").tobytes()
    ds.set_original_encoding(False, True, ds.original_character_set)
    return ds.get_item(PIXEL_DATA) if PIXEL_DATA in ds else None


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
    """De-identify, write and verify one series (see the module docstring).

    Identity first seen in a later file of the series (another patient ID in slice 40) may have
    been copied into a kept attribute of an earlier one: when verification finds such a value,
    the series is de-identified once more with the identity of all its files known from the start.
    """
    outcome, identity = _anonymize_series(job, frozenset())
    if outcome.leaks and identity:
        outcome, _ = _anonymize_series(job, identity)
    return outcome


def _anonymize_series(job: SeriesJob, known_identity: frozenset[str]
                      ) -> tuple[SeriesOutcome, frozenset[str]]:
    settings, src = job.settings, job.source
    ps = settings.pseudonymizer()
    new_series = ps.uid(src.series_uid)
    item = f"series:{new_series}"
    series_dir = Path(job.output_root) / "dicom" / new_series
    collector = IdentifierCollector(settings.spec)
    ctx: DeidContext | None = None
    written: list[tuple[str, bytes]] = []
    texts: dict[tuple[int, str], str] = {}
    memo: dict[bytes, str] = {}
    study = ""
    record = deidentification_elements(settings.profile)
    encoded = EncodedCache(record)
    strong_seen = -1

    def quarantine(reason: str) -> tuple[SeriesOutcome, frozenset[str]]:
        shutil.rmtree(series_dir, ignore_errors=True)
        return SeriesOutcome(None, [(item, reason)], Counter(),
                             files_quarantined=len(src.rel_paths)), frozenset()

    if src.reject_reason:
        return quarantine(src.reject_reason)
    series_dir.mkdir(parents=True, exist_ok=True)
    for k, rel in enumerate(src.rel_paths):
        try:
            ds, pixel, syntax = read_file((Path(job.input_root) / rel).read_bytes())
        except Exception as exc:  # any unreadable file makes the series unsafe to pass on
            return quarantine(f"unreadable file: file {k} of the series ({type(exc).__name__})")
        if first_text(ds, 0x00080016).startswith(STRUCTURED_REPORT_PREFIX):
            return quarantine("structured report: its content tree (free text, names, dates) is "
                              "not cleaned by this profile")
        reason = burned_in_reason(ds)
        if reason:
            return quarantine(f"burned-in annotation risk: {reason} (file {k} of the series)")
        if first_text(ds, SERIES_UID) != src.series_uid:
            return quarantine(f"mixed series: file {k} has another SeriesInstanceUID")
        try:
            if ctx is None:
                key = _patient_key(ds)
                ctx = DeidContext(settings.profile, ps, ps.patient_id(key),
                                  ps.date_shift_days(key, settings.max_date_shift_days))
                encoded.share(ctx.shared_elements)
                study = ps.uid(first_text(ds, STUDY_UID)) if first_text(ds, STUDY_UID) else ""
            collector.add_file(ds, rel)
            if len(collector.strong) != strong_seen:
                strong_seen = len(collector.strong)
                ctx.set_identity(FoldedNeedles.build(collector.strong | known_identity))
            codecs = python_codecs(ds)
            ctx.codecs = codecs
            deidentify_dataset(ds, ctx)
            record_deidentification(ds, record)
            out_syntax = REENCODED_SYNTAXES.get(syntax, syntax)
            ds.file_meta = new_file_meta(ds, out_syntax)
            ds.preamble = b"\0" * 128
            out_rel = f"dicom/{new_series}/{k:04d}.dcm"
            for tag, text in output_texts(ds, codecs, memo):
                texts.setdefault((tag, text), out_rel)
            head, chunks = serialize(ds, out_syntax, pixel, encoded)
            with open(Path(job.output_root) / out_rel, "wb") as fh:
                fh.write(head)
                for chunk in chunks:
                    fh.write(chunk)
        except Exception as exc:  # one odd file quarantines its series, never stops the cohort
            log.debug("series %s, file %d: %s", item, k, type(exc).__name__, exc_info=True)
            return quarantine(f"could not be de-identified: file {k} of the series "
                              f"({type(exc).__name__})")
        written.append((out_rel, head))
    if ctx is None:
        return quarantine("series has no files")
    row: dict[str, object] = {
        "series_uid": new_series, "patient_id": ctx.patient_pseudonym, "study_uid": study,
        "n_slices": len(written), "slice_spacing_mm": src.slice_spacing_mm,
        "files": "|".join(rel for rel, _ in written)}
    produced = [ctx.patient_pseudonym, *(m for _, m in settings.profile.method_codes())]
    matcher = build_matcher(collector.identifiers, collector.kept, collector.codecs, produced,
                            collector.strong)
    found: dict[str, list[str]] = {}
    for out_rel, head in written:
        hits = matcher.find(head) + matcher.find(out_rel.encode("utf-8"))
        if hits:
            found.setdefault(out_rel, []).extend(header_bytes_locations(head, hits))
    for (tag, text), out_rel in texts.items():
        if matcher.find_text(text):
            found.setdefault(out_rel, []).append(
                f"decoded value of ({tag >> 16:04X},{tag & 0xFFFF:04X})")
    if matcher.find(",".join(str(v) for v in row.values()).encode("utf-8")):
        found.setdefault("series.csv", []).append(f"row of {new_series}")
    leaks = [(f, ", ".join(dict.fromkeys(where))) for f, where in found.items()]
    outcome = SeriesOutcome(row, [], ctx.counts, len(written), 0, leaks, matcher.size)
    return outcome, frozenset(collector.strong) - known_identity


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
    quarantine_paths: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=list(QUARANTINE_PATHS.names)))  # item -> input path: local, never cached

    def write(self, output_dir: str | Path) -> None:
        """Write ``series.csv`` and ``quarantine.csv`` into ``output_dir`` (atomic files)."""
        ANONYMIZED_SERIES.write(Path(output_dir) / ANONYMIZED_SERIES.file, self.series)
        QUARANTINE.write(Path(output_dir) / QUARANTINE.file, self.quarantine)


def anonymize_cohort(sources: Sequence[SeriesSource], input_root: Path, output_root: Path,
                     settings: DeidSettings, executor: ExecutorParams,
                     quarantine: Sequence[tuple[str, str]] = (),
                     quarantine_paths: Sequence[tuple[str, str]] = ()) -> CohortReport:
    """Run :func:`anonymize_series` over ``sources`` (results in input order, any executor).

    ``quarantine``/``quarantine_paths``: rows already quarantined (files that are not part of a
    series) and their input paths, from :func:`group_folder`."""
    jobs = [SeriesJob(s, str(input_root), str(output_root), settings) for s in sources]
    outcomes = map_items(anonymize_series, jobs, executor, desc="series")
    counts: Counter[str] = Counter()
    rows, q_rows, leaks, uid_map = [], list(quarantine), [], {}
    q_paths = list(quarantine_paths)
    for src, out in zip(sources, outcomes, strict=True):
        counts.update(out.counts)
        q_rows.extend(out.quarantine)
        leaks.extend(out.leaks)
        for item, _ in out.quarantine:
            q_paths.extend((item, rel) for rel in src.rel_paths)
        if out.row is not None:
            rows.append(out.row)
            uid_map[src.series_uid] = str(out.row["series_uid"])
    for file, where in leaks:
        log.error("identifying value left in %s at %s", file, where)
    series = ANONYMIZED_SERIES.frame(rows).sort_values("series_uid")
    q_frame = pd.DataFrame(q_rows, columns=list(QUARANTINE.names)).sort_values(
        list(QUARANTINE.names))
    paths = pd.DataFrame(q_paths, columns=list(QUARANTINE_PATHS.names))
    return CohortReport(series.reset_index(drop=True), q_frame.reset_index(drop=True), counts,
                        sum(o.files_written for o in outcomes),
                        sum(o.files_quarantined for o in outcomes), leaks,
                        sum(o.identifiers for o in outcomes), uid_map, paths)


def sources_from_series_table(table: pd.DataFrame) -> list[SeriesSource]:
    """Series from ingest's ``series.csv`` (``files`` relative to the input, ``|``-joined)."""
    return [SeriesSource(str(r.series_uid), tuple(str(r.files).split("|")),
                         "" if pd.isna(r.slice_spacing_mm) else str(r.slice_spacing_mm))
            for r in table.itertuples(index=False)]


def _headers_chunk(job: tuple[str, tuple[str, ...]]) -> list[tuple[str, str, tuple[float, ...],
                                                                   tuple[float, ...], str]]:
    """(series UID, IPP, IOP, reason category) of each file, checked as ingest checks it
    (:func:`pipeline.dicom.read.read_header`); a picklable task. Only categories leave the
    worker, never a value or a path."""
    root, rels = job
    out = []
    for rel in rels:
        h = read_header(Path(root), rel)
        out.append((rel, h.series_uid, h.position_mm, h.orientation,
                    reason_category(h.reason) if h.reason else ""))
    return out


def group_folder(root: Path, ps: Pseudonymizer, executor: ExecutorParams
                 ) -> tuple[list[SeriesSource], list[tuple[str, str]], list[tuple[str, str]]]:
    """Group every file under ``root`` by SeriesInstanceUID (headers only) into stack order.

    Every file is checked as ingest checks a slice; a series with one unusable slice (truncated
    or no Pixel Data, an absurd pixel module, not a CT image...) gets a ``reject_reason`` and is
    quarantined whole. Files without a SeriesInstanceUID (not DICOM, unreadable), dangling
    symbolic links and link loops become quarantine rows named by a keyed hash of their path.
    Returns ``(sources, quarantine rows, (item, input path) rows)``.
    """
    rels, bad_links = walk_files(root)
    jobs = [(str(root), chunk) for chunk in chunk_paths(rels, executor.jobs)]
    headers = [h for chunk in map_items(_headers_chunk, jobs, executor, desc="headers")
               for h in chunk]
    groups: dict[str, list[tuple[str, tuple[float, ...], tuple[float, ...], str]]] = {}
    rejected, paths = [], []
    for rel, reason in bad_links:
        item = f"file:{ps.tag(rel)}"
        rejected.append((item, reason_category(reason)))
        paths.append((item, rel))
    for rel, uid, position, orientation, category in headers:
        if not uid:
            item = f"file:{ps.tag(rel)}"
            rejected.append((item, category or "no SeriesInstanceUID (not an image)"))
            paths.append((item, rel))
        else:
            groups.setdefault(uid, []).append((rel, position, orientation, category))
    return [_ordered(uid, files) for uid, files in sorted(groups.items())], rejected, paths


def _ordered(uid: str, files: list[tuple[str, tuple[float, ...], tuple[float, ...], str]]
             ) -> SeriesSource:
    files = sorted(files)
    bad = [(k, c) for k, (_, _, _, c) in enumerate(files) if c]
    if bad:
        k, category = bad[0]
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        return SeriesSource(uid, tuple(f[0] for f in files), "",
                            f"unusable slice: {category} (file {k} of the series{more})")
    normal = np.cross(files[0][2][0:3], files[0][2][3:6])
    keyed = sorted(files, key=lambda f: (float(np.dot(f[1], normal)), f[0]))
    z = [float(np.dot(f[1], normal)) for f in keyed]
    spacing = f"{statistics.median(np.diff(z)):.6g}" if len(z) > 1 else ""
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
        "key_source": settings.key_source.kind,
        "key_fingerprint": settings.key_source.fingerprint,
        "profile": {"options": settings.profile.options.enabled(),
                    "codes": [c for c, _ in settings.profile.method_codes()],
                    "uid_root": settings.uid_root,
                    "max_date_shift_days": settings.max_date_shift_days},
        "rows_dropped": dropped,
    }
