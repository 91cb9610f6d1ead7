"""De-identify DICOM (PS3.15 Annex E Basic Profile, keyed pseudonyms) and verify every output file.

Plain folder: --input DIR --output OUTDIR (metrics go to OUTDIR/metrics.json unless --metrics).
In the pipeline: also --series-table (ingest's series.csv), --annotations, --annotations-excluded
and --candidates. The key comes from --key-file or $PIPELINE_DEID_KEY; without either, only the
unmodified cohort that `synthesize` wrote may use the public demo key. Series that cannot be
proven clean are quarantined whole (OUTDIR/quarantine.csv, named by new UID or keyed hash; the
local table OUTDIR.quarantine-paths.csv beside the output maps them to input paths).
Exit status: 0 written and verified (quarantine listed); 2 bad input, parameters or key, or the
output is locked by another run (the previous output is untouched); 3 identifying values found in
what would have been written (the output folder is then not installed).
A MetaImage cohort (ingest's series table says format metaimage: LUNA16, already de-identified) is
not rewritten: its tables and series table are checked and copied, and the metrics say skipped.
"""

import argparse
import os
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.dicom.deid.pseudonyms import load_key
from pipeline.errors import InputError, PipelineError
from pipeline.io import atomic_dir, check_separate, read_csv, write_csv, write_json
from pipeline.metaimage import passthrough
from pipeline.metaimage.detect import survey_folder
from pipeline.parallel import ExecutorSection
from pipeline.tables import read_table


class _LeakFoundError(Exception):
    """Verification failed: leave the output folder uninstalled."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, required=True, help="folder of DICOM files")
    p.add_argument("--output", type=Path, required=True, help="de-identified folder to write")
    p.add_argument("--series-table", type=Path, default=None, help="ingest series.csv")
    p.add_argument("--annotations", type=Path, default=None)
    p.add_argument("--annotations-excluded", type=Path, default=None,
                   help="LUNA16 annotations_excluded.csv (seriesuid,coordX,coordY,coordZ,"
                        "diameter_mm)")
    p.add_argument("--candidates", type=Path, default=None)
    p.add_argument("--metrics", type=Path, default=None, help="default: OUTPUT/metrics.json")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--key-file", type=Path, default=None, help="secret key, outside the repo")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def _sources(args, settings, executor):
    if not args.input.is_dir() or not any(args.input.iterdir()):
        raise InputError(f"{args.input}: expected a folder of DICOM files, found "
                         f"{'an empty folder' if args.input.is_dir() else 'nothing'}")
    if args.series_table is None:
        survey = survey_folder(args.input)
        if survey.metaimage_headers and not survey.has_dicom:
            raise InputError(f"{args.input}: holds MetaImage volumes, not DICOM: nothing to "
                             "de-identify (LUNA16 is already); run ingest and resample on it")
        return cohort.group_folder(args.input.absolute(), settings.pseudonymizer(), executor)
    table = read_csv(args.series_table)
    if table.empty:
        raise InputError(f"{args.series_table}: no series (header only)")
    return cohort.sources_from_series_table(table), [], []


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    out = args.output.absolute()
    metrics_path = (args.metrics or out / "metrics.json").absolute()
    metrics_inside = out in metrics_path.parents
    tables = {"annotations": args.annotations, "annotations_excluded": args.annotations_excluded,
              "candidates": args.candidates}
    try:
        check_separate(args.input, out)
        if _metaimage_table(args.series_table):
            return _pass_through(args, out, metrics_path, tables)
        cfg = load_section(args.params, "anonymize", AnonymizeParams)
        data = load_section(args.params, "data", DataParams)
        settings = cohort.DeidSettings.from_params(
            cfg, load_key(args.key_file, data.synthetic, args.input))
        inputs = {n: read_table(p, n) for n, p in tables.items() if p is not None}
        executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
        with atomic_dir(out) as tmp:
            sources, rejected, paths = _sources(args, settings, executor)
            report = cohort.anonymize_cohort(sources, args.input.absolute(), tmp, settings,
                                             executor, rejected, paths)
            dropped = {}
            for name, frame in inputs.items():
                mapped, dropped[name] = cohort.map_series_table(frame, report.uid_map)
                write_csv(tmp / f"{name}.csv", mapped)
            write_csv(tmp / "series.csv", report.series)
            write_csv(tmp / "quarantine.csv", report.quarantine)
            metrics = cohort.cohort_metrics(report, settings, dropped)
            if report.leaks:
                raise _LeakFoundError
            if metrics_inside:
                write_json(tmp / metrics_path.relative_to(out), metrics)
    except PipelineError as exc:
        print(f"anonymize: {exc}", file=sys.stderr)
        return 2
    except _LeakFoundError:
        if not metrics_inside:
            write_json(metrics_path, metrics)
        print(f"anonymize: FAILED verification: {len(report.leaks)} output files still carry "
              f"identifying values (see the log); {args.output} not written", file=sys.stderr)
        return 3
    if not metrics_inside:
        write_json(metrics_path, metrics)
    _write_quarantine_paths(out, report)
    print(f"anonymized {report.files_written} files in {len(report.series)} series "
          f"({len(report.quarantine)} quarantined), verified: 0 leaks, key_id={settings.key_id}")
    return 0


def _metaimage_table(path: Path | None) -> bool:
    if path is None:
        return False
    if not path.is_file():
        raise InputError(f"{path}: expected ingest's series table, not found")
    return passthrough.is_metaimage_table(read_csv(path, dtype=str, keep_default_na=False))


def _pass_through(args, out: Path, metrics_path: Path, tables: dict) -> int:
    """A MetaImage cohort: check and copy the tables, rewrite no volume, report skipped."""
    inputs = {n: read_table(p, n) for n, p in tables.items() if p is not None}
    series = read_csv(args.series_table, dtype=str, keep_default_na=False)
    result = passthrough.pass_through(series, inputs)
    metrics = passthrough.passthrough_report(result)
    with atomic_dir(out) as tmp:
        passthrough.write_passthrough(tmp, result)
        if out in metrics_path.parents:
            write_json(tmp / metrics_path.relative_to(out), metrics)
    if out not in metrics_path.parents:
        write_json(metrics_path, metrics)
    out.with_name(f"{out.name}.quarantine-paths.csv").unlink(missing_ok=True)  # a DICOM run's
    print(f"anonymize: skipped ({len(result.series)} MetaImage series, already de-identified); "
          f"tables checked and copied to {args.output}")
    return 0


def _write_quarantine_paths(out: Path, report) -> None:
    """OUTPUT.quarantine-paths.csv beside the output (never inside it, so never cached or
    shared): quarantine item -> input path, readable by the user only."""
    path = out.with_name(f"{out.name}.quarantine-paths.csv")
    if report.quarantine_paths.empty:
        path.unlink(missing_ok=True)
        return
    write_csv(path, report.quarantine_paths)
    os.chmod(path, 0o600)


if __name__ == "__main__":
    raise SystemExit(main())
