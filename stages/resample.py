"""Resample de-identified CT series to isotropic int16 HU volumes (.nii.gz) + geometry table.

Works on any de-identified DICOM folder: uses INPUT/series.csv (the anonymize output) when present,
else groups and validates the series itself with the ingest code. A plain folder of MetaImage
volumes (.mhd + .raw, or subsetN/ folders of them, as LUNA16) works the same way; in the pipeline,
the MetaImage volumes that INPUT/series.csv lists are read from --raw-root (data.dicom_dir).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import ingest_scanner
from pipeline.errors import InputError
from pipeline.fingerprint.volumes import resample_fingerprint
from pipeline.imaging.params import ResampleParams
from pipeline.imaging.resample_cohort import resample_cohort, write_resample_tables
from pipeline.io import atomic_dir, check_separate, write_json
from pipeline.metaimage.detect import resolve_format
from pipeline.metaimage.scan import metaimage_scanner
from pipeline.parallel import ExecutorSection


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--input", type=Path, default=Path("data/interim/anonymized"),
                   help="de-identified DICOM folder (with series.csv, or any folder)")
    p.add_argument("--output", type=Path, default=Path("data/processed/volumes"))
    p.add_argument("--raw-root", type=Path, default=Path("data/raw/synthetic/dicom"),
                   help="folder the MetaImage paths of INPUT/series.csv are relative to "
                        "(params data.dicom_dir); unused for DICOM")
    p.add_argument("--format", choices=("auto", "dicom", "metaimage"), default="auto",
                   help="what INPUT holds when it has no series.csv (auto: decide from it)")
    p.add_argument("--fingerprint", type=Path, default=None,
                   help="write the data fingerprint's resample part (HU, sizes, lung volumes) here")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cfg = load_section(args.params, "resample", ResampleParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    scan, raw_root = None, args.raw_root.absolute()
    if not (args.input / "series.csv").is_file():  # stand-alone: group with the ingest checks
        ingest = load_section(args.params, "ingest", IngestParams)
        if resolve_format(args.input, args.format, "pass --format") == "metaimage":
            scan, raw_root = metaimage_scanner(ingest, executor), args.input.absolute()
        else:
            scan = ingest_scanner(ingest, executor)
    check_separate(args.input, args.output)
    with atomic_dir(args.output) as tmp:
        report = resample_cohort(args.input.absolute(), tmp, cfg, executor, scan=scan,
                                 raw_root=raw_root)
        write_resample_tables(tmp, report, cfg)
        if report.geometry.empty:  # keep the previous output rather than an empty one
            raise InputError(f"{args.input}: no series could be resampled "
                             f"({len(report.rejected)} rejected); {args.output} kept as it was")
    if args.fingerprint is not None:
        write_json(args.fingerprint, resample_fingerprint(args.output, executor))
    print(f"resampled {len(report.geometry)} series to {cfg.spacing_mm} mm "
          f"({len(report.rejected)} rejected) in {report.seconds:.1f}s -> {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
