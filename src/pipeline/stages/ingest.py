"""The ``ingest`` stage: a folder of DICOM (any layout) or MetaImage volumes -> series.csv and
rejected.csv, headers only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.cli import StageReport
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import IngestResult, ingest_metrics, scan_folder
from pipeline.errors import InputError
from pipeline.fingerprint.acquisition import acquisition_facts, ingest_fingerprint
from pipeline.fingerprint.parts import write_part
from pipeline.io import check_separate, write_json
from pipeline.metaimage.detect import resolve_format
from pipeline.metaimage.scan import metaimage_metrics, scan_metaimage
from pipeline.parallel import ExecutorParams

log = logging.getLogger("ingest")


@dataclass
class IngestReport(StageReport):
    result: IngestResult
    metrics: dict[str, Any]
    format: Literal["dicom", "metaimage"]
    input: Path
    output: Path

    @property
    def exit_code(self) -> int:
        """1 when no series is usable (the tables are still written: see rejected.csv)."""
        return 1 if self.result.series.empty else 0

    def write(self, metrics: Path, fingerprint: Path | None = None) -> None:
        write_json(metrics, self.metrics)
        if fingerprint is not None:
            write_part(fingerprint, "ingest", ingest_fingerprint(
                acquisition_facts(self.result.series, self.input), self.metrics))
        if self.result.series.empty:
            log.error("no usable CT series; see %s", self.output / "rejected.csv")

    def summary(self) -> str:
        m = self.metrics
        if self.format == "metaimage":
            return (f"ingest: {m['volumes_kept']} MetaImage volumes kept, "
                    f"{m['volumes_rejected']} volumes and {m['files_rejected']} files rejected "
                    f"(subsets: {m['volumes_per_subset']})")
        return (f"ingest: {m['files_seen']} files, {m['series_kept']} series kept "
                f"({m['files_kept']} slices), {m['series_rejected']} series and "
                f"{len(self.result.rejected) - m['series_rejected']} files rejected")


def run(input: Path, output: Path, cfg: IngestParams, executor: ExecutorParams,
        data_format: str = "auto") -> IngestReport:
    """Scan ``input`` and write ``output``/{series,rejected}.csv.

    ``data_format``: ``auto`` (decide from the folder), ``dicom`` or ``metaimage``.
    """
    check_separate(input, output)
    if not input.is_dir() or not any(input.iterdir()):
        raise InputError(f"{input}: expected a folder of DICOM files or MetaImage volumes, "
                         f"found {'an empty folder' if input.is_dir() else 'nothing'}")
    fmt = resolve_format(input, data_format, "set data.format in params.yaml (or pass --format)")
    if fmt == "metaimage":
        result = scan_metaimage(input.absolute(), cfg, executor)
        metrics = metaimage_metrics(result)
    else:
        result = scan_folder(input.absolute(), cfg, executor)
        metrics = ingest_metrics(result)
    result.write(output)
    return IngestReport(result, metrics, fmt, input, output)
