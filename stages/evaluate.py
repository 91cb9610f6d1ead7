"""Evaluate the cross-validation on the out-of-fold predictions of every patient: the model and
the seed2d baseline with patient-bootstrap CIs, their paired difference, per-fold spread, LUNA16
FROC/CPM, DVC plots, a Grad-CAM montage and the model card."""

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.cv_params import CvParams
from pipeline.evaluation.params import EvaluateParams
from pipeline.stages import evaluate


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--folds-dir", type=Path, default=Path("models/cv"),
                   help="the train stages' outputs: <dir>/{model,baseline}/fold<N>/")
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--predictions", type=Path, default=Path("data/evaluation/predictions.csv"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    p.add_argument("--details", type=Path, default=Path("reports/evaluation.json"))
    p.add_argument("--plots", type=Path, default=Path("plots/eval"))
    p.add_argument("--montage", type=Path, default=Path("reports/montage.png"))
    p.add_argument("--model-card", type=Path, default=Path("reports/model_card.md"))
    p.add_argument("--figures", type=Path, default=Path("reports/figures"),
                   help="PNGs of the headline plots (the model card shows them)")
    p.add_argument("--train-curves", type=Path, default=Path("plots/train"),
                   help="dvclive folders <dir>/{model,baseline}/fold0/plots/metrics")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "evaluate", EvaluateParams)
    folds = load_section(args.params, "cv", CvParams).fold_ids
    report = evaluate.run(args.folds_dir, args.patches, folds, cfg)
    report.write(args.predictions, args.metrics, args.details, args.plots, args.montage,
                 args.model_card, args.figures, args.train_curves)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
