"""Resample de-identified CT series to isotropic int16 HU volumes (.nii.gz) + geometry table.

Works on any de-identified DICOM folder: uses INPUT/series.csv (the anonymize output) when present,
else groups and validates the series itself with the ingest code. A plain folder of MetaImage
volumes (.mhd + .raw, or subsetN/ folders of them, as LUNA16) works the same way; in the pipeline,
the MetaImage volumes that INPUT/series.csv lists are read from --raw-root (data.dicom_dir).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.dicom.params import IngestParams
from pipeline.imaging.params import ResampleParams
from pipeline.parallel import ExecutorSection
from pipeline.stages import resample


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


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "resample", ResampleParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    ingest = (load_section(args.params, "ingest", IngestParams)
              if resample.stand_alone(args.input) else None)
    report = resample.run(args.input, args.output, cfg, executor, args.raw_root, ingest,
                          args.format)
    report.write(args.fingerprint)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
