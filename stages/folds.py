"""Assign every patient to one of cv.folds folds (stratified on nodules, deterministic).

Writes the fold table (--output) and a summary per fold (--metrics). With cv.folds_from: subset
the fold of a scan is its LUNA16 subset number, read from the series table (--series-table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.cv_params import CvParams
from pipeline.stages import folds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--series-table", type=Path, default=Path("data/interim/anonymized/series.csv"),
                   help="anonymize's series.csv (its subset column; read with cv.folds_from: "
                        "subset)")
    p.add_argument("--output", type=Path, default=Path("data/processed/folds.csv"))
    p.add_argument("--metrics", type=Path, default=Path("reports/folds.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    report = folds.run(args.patches, args.output, load_section(args.params, "cv", CvParams),
                       args.series_table)
    report.write(args.metrics)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
