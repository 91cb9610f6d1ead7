"""Scan a folder of DICOM (any layout, any names) into usable CT series and rejected files.

Writes OUTPUT/series.csv (one row per usable series, files in stack order) and OUTPUT/rejected.csv
(one row per file or series left out, with the reason), plus the metrics JSON. Headers only.
A folder of MetaImage volumes (LUNA16: subsetN/<seriesuid>.mhd + .raw) is listed and checked into
the same tables (--format, default params data.format; auto decides from the folder).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import ingest_metrics, scan_folder
from pipeline.errors import InputError
from pipeline.fingerprint.acquisition import acquisition_facts, ingest_fingerprint
from pipeline.io import check_separate, write_csv, write_json
from pipeline.metaimage.detect import resolve_format
from pipeline.metaimage.scan import metaimage_metrics, scan_metaimage
from pipeline.parallel import ExecutorSection

log = logging.getLogger("ingest")


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


def run(args: argparse.Namespace) -> int:
    cfg = load_section(args.params, "ingest", IngestParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    check_separate(args.input, args.output)
    if not args.input.is_dir() or not any(args.input.iterdir()):
        raise InputError(f"{args.input}: expected a folder of DICOM files or MetaImage volumes, "
                         f"found {'an empty folder' if args.input.is_dir() else 'nothing'}")
    data_format = args.format or load_section(args.params, "data", DataParams).format
    fmt = resolve_format(args.input, data_format,
                         "set data.format in params.yaml (or pass --format)")
    if fmt == "metaimage":
        result = scan_metaimage(args.input.absolute(), cfg, executor)
        metrics = metaimage_metrics(result)
    else:
        result = scan_folder(args.input.absolute(), cfg, executor)
        metrics = ingest_metrics(result)
    write_csv(args.output / "series.csv", result.series)
    write_csv(args.output / "rejected.csv", result.rejected)
    write_json(args.metrics, metrics)
    if args.fingerprint is not None:
        write_json(args.fingerprint, ingest_fingerprint(
            acquisition_facts(result.series, args.input), metrics))
    if fmt == "metaimage":
        print(f"ingest: {metrics['volumes_kept']} MetaImage volumes kept, "
              f"{metrics['volumes_rejected']} volumes and {metrics['files_rejected']} files "
              f"rejected (subsets: {metrics['volumes_per_subset']})")
    else:
        print(f"ingest: {metrics['files_seen']} files, {metrics['series_kept']} series kept "
              f"({metrics['files_kept']} slices), {metrics['series_rejected']} series and "
              f"{len(result.rejected) - metrics['series_rejected']} files rejected")
    if result.series.empty:
        log.error("no usable CT series; see %s", args.output / "rejected.csv")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
