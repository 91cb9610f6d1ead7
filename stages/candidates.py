"""Generate nodule candidates on the resampled volumes (LUNA16 format, world mm), labelled.

Writes OUTPUT (seriesuid, coordX, coordY, coordZ, score, diameter_mm, density, and with
annotations class, annotation_id) and a metrics JSON: the generator's sensitivity (overall and per
nodule type when the annotations carry texture/location columns) and candidates per scan.
Exit codes: 0 done, 2 unusable input or parameters.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.detection.params import load_candidate_params
from pipeline.stages import candidates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--volumes", type=Path, default=Path("data/processed/volumes"))
    p.add_argument("--annotations", default="data/interim/anonymized/annotations.csv",
                   help="LUNA16 annotations to label against ('' for none)")
    p.add_argument("--output", type=Path, default=Path("data/processed/candidates/candidates.csv"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/candidates.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    params = load_candidate_params(args.params)
    annotations = candidates.read_annotations(args.annotations) if args.annotations else None
    report = candidates.run(args.volumes, params, annotations)
    report.write(args.output, args.metrics)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
