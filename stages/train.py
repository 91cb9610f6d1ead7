"""Train one fold of the cross-validation: the model named in params (--role model: `train`, or
--role baseline: `baseline`) on the other folds, select epoch and threshold on an inner validation
part of them, score the held-out fold.

Writes OUTPUT/{model.pt, oof.csv, summary.json}; training curves go to --live (dvclive) and
timings, which vary run to run, to --timing (untracked). Runs in one process, or data-parallel with
`torchrun --nproc_per_node N stages/train.py ...` (gloo on CPU); only rank 0 writes outputs.
"""

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.cv_params import CvParams
from pipeline.stages import train
from pipeline.training.params import TrainParams


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--role", choices=sorted(train.SECTIONS), default="model")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--folds", type=Path, default=Path("data/processed/folds.csv"))
    p.add_argument("--output", type=Path, default=None,
                   help="default: models/cv/<role>/fold<N>")
    p.add_argument("--live", type=Path, default=None,
                   help="dvclive folder (default plots/train/<role>/fold<N>; '' to disable)")
    p.add_argument("--timing", type=Path, default=None,
                   help="timings (default logs/train/<role>_fold<N>.json, not tracked)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, train.SECTIONS[args.role], TrainParams)
    cv = load_section(args.params, "cv", CvParams)
    tag = Path(args.role) / f"fold{args.fold}"
    live = Path("plots/train") / tag if args.live is None else args.live
    report = train.run(args.patches, args.folds, args.fold, args.role, cfg, cv,
                       None if str(live) in ("", ".") else live)
    report.write(args.output or Path("models/cv") / tag,
                 args.timing or Path("logs/train") / f"{args.role}_fold{args.fold}.json")
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
