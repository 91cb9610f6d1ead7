"""The ``anonymize`` stage: de-identify DICOM (PS3.15 Annex E, keyed pseudonyms), verify every
output file, map the LUNA16 tables to the new UIDs; a MetaImage cohort passes through checked.

Exit status of the stage script: 0 written and verified; 2 bad input, parameters or key, or the
output locked (raised as :class:`~pipeline.errors.PipelineError`); 3 identifying values found in
what would have been written (:class:`~pipeline.errors.LeakError`; the output is not installed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import StageReport
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.dicom.deid.pseudonyms import load_key
from pipeline.dicom.validate import INGEST_SERIES
from pipeline.errors import InputError, LeakError
from pipeline.io import atomic_dir, check_separate, read_csv, write_csv, write_json
from pipeline.metaimage import passthrough
from pipeline.metaimage.detect import survey_folder
from pipeline.parallel import ExecutorParams
from pipeline.tables import read_table

#: the LUNA16 tables mapped to the new UIDs (name -> written as OUTPUT/<name>.csv)
TABLE_NAMES = ("annotations", "annotations_excluded", "candidates")


@dataclass
class AnonymizeReport(StageReport):
    """``metrics`` (counts only); ``quarantine_paths`` (item -> input path) stays local."""

    metrics: dict[str, Any]
    output: Path
    metrics_inside: bool
    line: str
    quarantine_paths: pd.DataFrame | None = None  # None: a MetaImage pass-through

    def write(self, metrics: Path) -> None:
        """The metrics (when outside the output, else already in it) and the local
        ``OUTPUT.quarantine-paths.csv`` beside the output (never inside it, so never cached or
        shared), readable by the user only."""
        if not self.metrics_inside:
            write_json(metrics, self.metrics)
        path = self.output.with_name(f"{self.output.name}.quarantine-paths.csv")
        if self.quarantine_paths is None or self.quarantine_paths.empty:
            path.unlink(missing_ok=True)
            return
        cohort.QUARANTINE_PATHS.write(path, self.quarantine_paths)
        os.chmod(path, 0o600)

    def summary(self) -> str:
        return self.line


def _sources(input: Path, series_table: Path | None, settings: cohort.DeidSettings,
             executor: ExecutorParams) -> tuple[list[cohort.SeriesSource], list, list]:
    if not input.is_dir() or not any(input.iterdir()):
        raise InputError(f"{input}: expected a folder of DICOM files, found "
                         f"{'an empty folder' if input.is_dir() else 'nothing'}")
    if series_table is None:
        survey = survey_folder(input)
        if survey.metaimage_headers and not survey.has_dicom:
            raise InputError(f"{input}: holds MetaImage volumes, not DICOM: nothing to "
                             "de-identify (LUNA16 is already); run ingest and resample on it")
        return cohort.group_folder(input.absolute(), settings.pseudonymizer(), executor)
    table = INGEST_SERIES.only("series_uid", "slice_spacing_mm", "files").read(series_table)
    if table.empty:
        raise InputError(f"{series_table}: no series (header only)")
    return cohort.sources_from_series_table(table), [], []


def metaimage_series(series_table: Path | None) -> pd.DataFrame | None:
    """Ingest's series table (as text) when it describes a MetaImage cohort (already
    de-identified), else None."""
    if series_table is None:
        return None
    if not series_table.is_file():
        raise InputError(f"{series_table}: expected ingest's series table, not found")
    series = read_csv(series_table, dtype=str, keep_default_na=False)
    return series if passthrough.is_metaimage_table(series) else None


def pass_through(series: pd.DataFrame, output: Path, metrics: Path,
                 tables: Mapping[str, Path | None]) -> AnonymizeReport:
    """A MetaImage cohort (``series``: its series table): check and copy the tables, rewrite no
    volume, report skipped."""
    inputs = {n: read_table(p, n) for n, p in tables.items() if p is not None}
    result = passthrough.pass_through(series, inputs)
    record = passthrough.passthrough_report(result)
    inside = output in metrics.parents
    with atomic_dir(output) as tmp:
        passthrough.write_passthrough(tmp, result)
        if inside:
            write_json(tmp / metrics.relative_to(output), record)
    return AnonymizeReport(record, output, inside,
                           f"anonymize: skipped ({len(result.series)} MetaImage series, already "
                           f"de-identified); tables checked and copied to {output}")


def run(input: Path, output: Path, metrics: Path, tables: Mapping[str, Path | None],
        cfg: AnonymizeParams, synthetic: bool, executor: ExecutorParams,
        series_table: Path | None = None, key_file: Path | None = None) -> AnonymizeReport:
    """De-identify ``input`` into ``output`` (installed only when every file verifies clean).

    ``metrics``: where the metrics go; written inside the output folder, atomically with it,
    when it lies there. ``tables``: name (:data:`TABLE_NAMES`) -> CSV path (or None).

    Raises:
        LeakError: verification found identifying values; the metrics (when outside the output)
            are written, the output folder is not installed.
    """
    output, metrics = output.absolute(), metrics.absolute()
    check_separate(input, output)
    metaimage = metaimage_series(series_table)
    if metaimage is not None:
        return pass_through(metaimage, output, metrics, tables)
    settings = cohort.DeidSettings.from_params(cfg, load_key(key_file, synthetic, input))
    inputs = {n: read_table(p, n) for n, p in tables.items() if p is not None}
    inside = output in metrics.parents
    record: dict[str, Any] = {}
    try:
        with atomic_dir(output) as tmp:
            sources, rejected, paths = _sources(input, series_table, settings, executor)
            report = cohort.anonymize_cohort(sources, input.absolute(), tmp, settings, executor,
                                             rejected, paths)
            dropped = {}
            for name, frame in inputs.items():
                mapped, dropped[name] = cohort.map_series_table(frame, report.uid_map)
                write_csv(tmp / f"{name}.csv", mapped)
            report.write(tmp)
            record = cohort.cohort_metrics(report, settings, dropped)
            if report.leaks:
                raise LeakError(f"FAILED verification: {len(report.leaks)} output files still "
                                f"carry identifying values (see the log); {output} not written")
            if inside:
                write_json(tmp / metrics.relative_to(output), record)
    except LeakError:
        if not inside:
            write_json(metrics, record)
        raise
    return AnonymizeReport(record, output, inside,
                           f"anonymized {report.files_written} files in {len(report.series)} "
                           f"series ({len(report.quarantine)} quarantined), verified: 0 leaks, "
                           f"key_id={settings.key_id}", report.quarantine_paths)
