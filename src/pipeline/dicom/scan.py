"""Scan any folder of DICOM files into a table of usable CT series and a table of what was left out.

Hospitals export DICOM in every layout: nested folders, opaque file names, a DICOMDIR or none,
studies split across folders, localizers and reports mixed in. The scan therefore ignores names
and layout: it lists every file under the root (sorted), reads each header in parallel
(:func:`pipeline.dicom.read.read_header`, chunks of files per task to keep overhead low), groups
the usable CT slices by SeriesInstanceUID (0020,000E) and validates each series
(:func:`pipeline.dicom.validate.validate_series`).

Only CT Image Storage (single-frame) series are kept; Enhanced CT multi-frame files are rejected
with "Enhanced CT multi-frame not supported yet" (see :mod:`pipeline.dicom.read`). Every file is
accounted for: a kept slice, a per-file row of ``rejected`` (``path`` set), or a file of a series
rejected as a whole (one row with ``path`` empty). Ingest reads headers only; pixels are decoded
later by the readers downstream (pydicom pixel handlers / SimpleITK).
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.dicom.params import IngestParams
from pipeline.dicom.read import FileHeader, read_header
from pipeline.dicom.validate import INGEST_SERIES, SeriesRejectedError, validate_series
from pipeline.errors import DicomReadError
from pipeline.parallel import ExecutorParams, map_items
from pipeline.tables import REJECTED_FILE_COLUMNS, Table

log = logging.getLogger(__name__)

#: ingest's ``rejected.csv``: one row per file (``path`` set) or whole series (``path`` empty)
#: left out; the text of a reason before its first ``:`` is its category.
INGEST_REJECTED = Table("rejected.csv", "ingest", REJECTED_FILE_COLUMNS)
REJECTED_COLUMNS: tuple[str, ...] = INGEST_REJECTED.names
_MIN_CHUNK = 32
_MAX_CHUNK = 256


@dataclass(frozen=True)
class IngestResult:
    """What a scan found.

    Attributes:
        series: one row per usable series, columns of :data:`INGEST_SERIES`, sorted by series_uid.
        rejected: ``path, series_uid, reason``, one row per file (``path`` set) or whole series
            (``path`` empty) not used, sorted by series_uid then path.
        files_seen: files found under the root.
        files_in_rejected_series: usable-looking files that belong to series rejected as a whole,
            so ``files_seen == series.n_slices.sum() + rows with a path + this``.
        series_table: the contract ``series`` follows (:data:`INGEST_SERIES` for DICOM).
    """

    series: pd.DataFrame
    rejected: pd.DataFrame
    files_seen: int
    files_in_rejected_series: int = 0
    series_table: Table = INGEST_SERIES  # the contract of ``series`` (MetaImage: its own)

    def write(self, output_dir: str | Path) -> None:
        """Write ``series.csv`` and ``rejected.csv`` into ``output_dir`` (atomic files)."""
        self.series_table.write(Path(output_dir) / self.series_table.file, self.series)
        INGEST_REJECTED.write(Path(output_dir) / INGEST_REJECTED.file, self.rejected)


def walk_files(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Every regular file under ``root`` (sorted ``/``-separated paths relative to it), following
    symbolic links to folders once; and ``(path, reason)`` for each dangling symbolic link and
    each link loop (a link back to a folder already walked), so no file silently vanishes."""
    found: list[str] = []
    bad: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    root = Path(root)
    top = root.stat()
    seen_dirs.add((top.st_dev, top.st_ino))
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = Path(dirpath).relative_to(root)
        keep = []
        for name in sorted(dirnames):
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError:
                bad.append(((rel_dir / name).as_posix(), _link_reason(full)))
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:
                bad.append(((rel_dir / name).as_posix(), "symbolic link loop: the link leads "
                            "back to a folder already scanned"))
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            full = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            try:
                regular = full.is_file()
                full.stat()
            except OSError:
                bad.append((rel, _link_reason(full)))
                continue
            if regular:
                found.append(rel)
            elif full.is_symlink() and not full.exists():
                bad.append((rel, _link_reason(full)))
    return sorted(found), sorted(bad)


def _link_reason(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: the link resolves to itself"
    if path.is_symlink():
        return "dangling symbolic link: its target does not exist"
    return "unreadable file: cannot stat"


def list_files(root: Path) -> list[str]:
    """The regular files of :func:`walk_files`."""
    return walk_files(root)[0]


def read_headers_chunk(job: tuple[str, tuple[str, ...]]) -> list[FileHeader]:
    """Read the headers of ``(root, relative_paths)``; a picklable task for :func:`map_items`."""
    root, relpaths = job
    return [read_header(Path(root), rel) for rel in relpaths]


def chunk_paths(paths: Sequence[str], jobs: int) -> list[tuple[str, ...]]:
    """Split ``paths`` into contiguous chunks: about 8 per worker, 32 to 256 files each."""
    if not paths:
        return []
    size = min(_MAX_CHUNK, max(_MIN_CHUNK, math.ceil(len(paths) / (8 * max(jobs, 1)))))
    return [tuple(paths[i:i + size]) for i in range(0, len(paths), size)]


def scan_folder(root: Path, params: IngestParams, executor: ExecutorParams) -> IngestResult:
    """Find, check and group every DICOM file under ``root`` into usable CT series.

    Raises:
        DicomReadError: when ``root`` is not a folder (per-file problems never raise).
    """
    root = Path(root)
    if not root.is_dir():
        raise DicomReadError(f"{root}: expected a folder of DICOM files, found none")
    paths, bad_links = walk_files(root)
    log.info("scanning %d files", len(paths))
    rejected: list[dict[str, str]] = [{"path": rel, "series_uid": "", "reason": reason}
                                      for rel, reason in bad_links]
    readable: list[str] = []
    for rel in paths:
        if "|" in rel:
            rejected.append({"path": rel, "series_uid": "", "reason": "unsupported file name: "
                             "contains '|', the separator of series.csv files"})
        else:
            readable.append(rel)
    jobs = [(str(root), chunk) for chunk in chunk_paths(readable, executor.jobs)]
    headers = [h for chunk in map_items(read_headers_chunk, jobs, executor, desc="headers")
               for h in chunk]
    by_series: dict[str, list[FileHeader]] = defaultdict(list)
    for h in headers:
        if h.reason:
            rejected.append({"path": h.path, "series_uid": h.series_uid, "reason": h.reason})
        else:
            by_series[h.series_uid].append(h)
    rows = []
    files_in_rejected = 0
    for uid in sorted(by_series):
        members, duplicates = _drop_duplicate_instances(by_series[uid])
        rejected.extend(duplicates)
        try:
            rows.append(validate_series(members, params).to_row())
        except SeriesRejectedError as exc:
            rejected.append({"path": "", "series_uid": uid,
                             "reason": f"{exc.reason} [{len(members)} files]"})
            files_in_rejected += len(members)
    series = INGEST_SERIES.frame(rows)
    table = INGEST_REJECTED.frame(rejected)
    table = table.sort_values(["series_uid", "path", "reason"], kind="stable")
    table = table.reset_index(drop=True)
    for row, (path, reason) in enumerate(zip(table["path"], table["reason"], strict=True)):
        if not path:  # never an original UID, name or ID in a log line: point at the table
            log.info("series rejected (%s): see rejected.csv row %d", reason_category(reason),
                     row + 1)
    return IngestResult(series=series.reset_index(drop=True), rejected=table,
                        files_seen=len(paths) + len(bad_links),
                        files_in_rejected_series=files_in_rejected)


def _drop_duplicate_instances(headers: list[FileHeader]
                              ) -> tuple[list[FileHeader], list[dict[str, str]]]:
    """Keep the first file (by path) of each SOPInstanceUID; the copies become rejected rows."""
    first_path: dict[str, str] = {}
    kept: list[FileHeader] = []
    rows: list[dict[str, str]] = []
    for h in sorted(headers, key=lambda h: h.path):
        uid = h.sop_instance_uid
        if uid and uid in first_path:
            rows.append({"path": h.path, "series_uid": h.series_uid,
                         "reason": f"duplicate file: same SOPInstanceUID as {first_path[uid]}"})
            continue
        if uid:
            first_path[uid] = h.path
        kept.append(h)
    return kept, rows


def reason_category(reason: str) -> str:
    """The stable category of a reason: its text before the first ``:``."""
    return reason.split(":", 1)[0].strip()


def ingest_metrics(result: IngestResult) -> dict[str, Any]:
    """Counts for ``reports/ingest.json``: files seen, kept and rejected, reasons by category.

    Only counts and reason categories: no UID, patient ID or path.
    """
    rej = result.rejected
    has_path = rej["path"].astype(str) != ""
    file_reasons = Counter(reason_category(r) for r in rej.loc[has_path, "reason"])
    series_reasons = Counter(reason_category(r) for r in rej.loc[~has_path, "reason"])
    files_kept = int(result.series["n_slices"].sum()) if len(result.series) else 0
    return {
        "files_seen": int(result.files_seen),
        "files_kept": files_kept,
        "files_rejected": int(has_path.sum()) + int(result.files_in_rejected_series),
        "series_kept": int(len(result.series)),
        "series_rejected": int((~has_path).sum()),
        "files_rejected_by_reason": dict(sorted(file_reasons.items())),
        "series_rejected_by_reason": dict(sorted(series_reasons.items())),
    }


def ingest_scanner(params: IngestParams, executor: ExecutorParams
                   ) -> Callable[[Path], tuple[pd.DataFrame, pd.DataFrame]]:
    """``folder -> (series, rejected)`` with the ingest checks, for stages that read a plain
    folder (resample stand-alone)."""

    def scan(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = scan_folder(folder, params, executor)
        return result.series, result.rejected

    return scan
