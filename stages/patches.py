"""Cut world-aligned HU cubes around candidates into one array, with its index.

Writes OUTPUT/{cubes.npy, index.csv, preprocess.json, annotations.csv, annotations_excluded.csv,
rejected.csv} and the data metrics (--metrics).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.generated import CANDIDATE_SOURCES
from pipeline.data.patches_params import PatchesParams
from pipeline.parallel import ExecutorSection
from pipeline.stages import patches


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--volumes", type=Path, default=Path("data/processed/volumes"))
    p.add_argument("--tables", type=Path, default=Path("data/interim/anonymized"),
                   help="folder with candidates.csv and annotations.csv")
    p.add_argument("--candidates-source", choices=CANDIDATE_SOURCES, default="provided",
                   help="provided: --tables/candidates.csv; generated: the --generated table")
    p.add_argument("--generated", type=Path,
                   default=Path("data/processed/candidates/candidates.csv"),
                   help="the candidates stage's table (read with --candidates-source generated)")
    p.add_argument("--output", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/data.json"))
    p.add_argument("--fingerprint", type=Path, default=None,
                   help="write the data fingerprint's patches part (candidates and nodules) here")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "patches", PatchesParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    generated = args.generated if args.candidates_source == "generated" else None
    report = patches.run(args.volumes, args.tables, args.output, cfg, executor, generated)
    report.write(args.metrics, args.fingerprint)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
