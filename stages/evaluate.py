"""Evaluate the cross-validation on the out-of-fold predictions of every patient: the model and
the seed2d baseline with patient-bootstrap CIs, their paired difference, per-fold spread, LUNA16
FROC/CPM, DVC plots, a Grad-CAM montage and the model card."""

import argparse
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.params import CvParams
from pipeline.evaluation.figures import (
    confusion_figure,
    froc_figure,
    read_dvclive_curves,
    roc_figure,
    training_curves_figure,
)
from pipeline.evaluation.froc import FP_RATES
from pipeline.evaluation.output import write_predictions, write_table
from pipeline.evaluation.params import EvaluateParams
from pipeline.evaluation.run import evaluate_cv
from pipeline.io import write_bytes, write_json, write_text


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


def write_figures(ev, out: Path, curves: Path) -> None:
    """The model card's PNGs: out-of-fold ROC, FROC and confusion, fold 0's training curves."""
    cmp_ = ev.details["comparison"]
    at = {name: {float(r): cmp_[name][f"sensitivity_at_{r:g}"]["value"] for r in FP_RATES}
          for name in ("model", "baseline")}
    names = {"label": ev.metrics["model"], "baseline_label": ev.metrics["baseline"]["model"]}
    roc_figure(ev.plots["roc.csv"], out / "roc.png", baseline=ev.plots["roc_baseline.csv"],
               title="ROC, out of fold (every patient)", **names)
    froc_figure(ev.plots["froc.csv"], out / "froc.png", sensitivity_at=at["model"],
                baseline=ev.plots["froc_baseline.csv"], baseline_sensitivity_at=at["baseline"],
                title="FROC, out of fold (LUNA16)", **names)
    confusion_figure(ev.plots["confusion.csv"], out / "confusion.png",
                     classes=("nodule", "not nodule"), label=names["label"],
                     title="Confusion, out of fold (fold thresholds)")
    fold0 = [curves / role / "fold0" / "plots" / "metrics" for role in ("model", "baseline")]
    if fold0[0].is_dir():
        base = read_dvclive_curves(fold0[1]) if fold0[1].is_dir() else None
        training_curves_figure(read_dvclive_curves(fold0[0]), out / "training_curves.png",
                               baseline=base, title="Training curves, fold 0", **names)


def _ci(entry) -> str:
    if entry.get("value") is None:
        return "n/a"
    if entry.get("ci_low") is None or entry.get("ci_high") is None:
        return f"{entry['value']:+.3f}"
    return f"{entry['value']:+.3f} ({entry['ci_low']:+.3f} to {entry['ci_high']:+.3f})"


def run(args) -> int:
    cfg = load_section(args.params, "evaluate", EvaluateParams)
    folds = load_section(args.params, "cv", CvParams).fold_ids
    dirs = {role: [args.folds_dir / role / f"fold{i}" for i in folds]
            for role in ("model", "baseline")}
    ev = evaluate_cv(dirs["model"], dirs["baseline"], args.patches, cfg)
    write_predictions(args.predictions, ev.predictions)
    for name, table in ev.plots.items():
        write_table(args.plots / name, table)
    write_json(args.metrics, ev.metrics)
    write_json(args.details, ev.details)
    write_bytes(args.montage, ev.montage_png)
    write_text(args.model_card, ev.model_card)
    write_figures(ev, args.figures, args.train_curves)
    oof, base = ev.metrics["oof"], ev.metrics["baseline"]
    print(f"out of fold ({oof['patients']} patients): AUC {_ci(oof['auc'])}, CPM "
          f"{_ci(oof['cpm'])}; vs {base['model']}: delta AUC {_ci(base['delta_auc'])}, delta CPM "
          f"{_ci(base['delta_cpm'])}")
    return 0


def main(argv=None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
