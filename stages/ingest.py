"""Scan a folder of DICOM (any layout, any names) into usable CT series and rejected files.

Writes OUTPUT/series.csv (one row per usable series, files in stack order) and OUTPUT/rejected.csv
(one row per file or series left out, with the reason), plus the metrics JSON. Headers only.
A folder of MetaImage volumes (LUNA16: subsetN/<seriesuid>.mhd + .raw) is listed and checked into
the same tables (--format, default params data.format; auto decides from the folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.dicom.params import IngestParams
from pipeline.parallel import ExecutorSection
from pipeline.stages import ingest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--input", type=Path, default=Path("data/raw/synthetic/dicom"),
                   help="folder of DICOM files or MetaImage volumes to scan (params "
                        "data.dicom_dir)")
    p.add_argument("--output", type=Path, default=Path("data/interim/ingest"),
                   help="folder for series.csv and rejected.csv")
    p.add_argument("--metrics", type=Path, default=Path("reports/ingest.json"))
    p.add_argument("--fingerprint", type=Path, default=None,
                   help="write the data fingerprint's ingest part here (counts, no identifier)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--format", choices=("auto", "dicom", "metaimage"), default=None,
                   help="what the input holds (default: params data.format)")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "ingest", IngestParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    data_format = args.format or load_section(args.params, "data", DataParams).format
    report = ingest.run(args.input, args.output, cfg, executor, data_format)
    report.write(args.metrics, args.fingerprint)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
