"""Generate nodule candidates on the resampled volumes (LUNA16 format, world mm), labelled.

Writes OUTPUT (seriesuid, coordX, coordY, coordZ, score, diameter_mm, density, and with
annotations class, annotation_id) and a metrics JSON: the generator's sensitivity (overall and per
nodule type when the annotations carry texture/location columns) and candidates per scan.
Exit codes: 0 done, 2 unusable input or parameters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.detection.params import load_candidate_params
from pipeline.detection.run import run
from pipeline.errors import PipelineError
from pipeline.io import read_csv


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        params = load_candidate_params(args.params)
        annotations = None
        if args.annotations:
            if not Path(args.annotations).is_file():
                raise PipelineError(f"{args.annotations}: annotations CSV not found")
            annotations = read_csv(args.annotations)
        report = run(args.volumes, params, annotations)
    except PipelineError as exc:
        print(f"candidates: error: {exc}", file=sys.stderr)
        return 2
    report.write(args.output, args.metrics)
    m = report.metrics
    found = (f", {m['nodules_found']}/{m['nodules']} nodules found"
             if "nodules" in m else "")
    print(f"{m['candidates']} candidates in {m['scans']} scans ({m['candidates_per_scan']} per "
          f"scan){found} in {report.seconds:.1f}s -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
