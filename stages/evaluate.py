"""Evaluate the trained model on the test split (threshold chosen on val): metrics with patient
bootstrap CIs, FROC/CPM, DVC plots, per-candidate predictions, a Grad-CAM montage, a model card."""

import argparse
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_params
from pipeline.evaluation.run import evaluate_checkpoint
from pipeline.io import read_json, write_bytes, write_csv, write_json, write_text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=Path("models/model.pt"))
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--data-metrics", type=Path, default=Path("metrics/data.json"),
                   help="cohort summary for the model card (skipped when missing)")
    p.add_argument("--predictions", type=Path, default=Path("data/evaluation/predictions.csv"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    p.add_argument("--plots", type=Path, default=Path("plots/eval"))
    p.add_argument("--montage", type=Path, default=Path("reports/montage.png"))
    p.add_argument("--model-card", type=Path, default=Path("reports/model_card.md"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    cfg = load_params(args.params).evaluate
    data_metrics = read_json(args.data_metrics) if args.data_metrics.exists() else None
    ev = evaluate_checkpoint(args.model, args.patches, cfg, data_metrics)
    write_csv(args.predictions, ev.predictions)
    for name, table in ev.plots.items():
        write_csv(args.plots / name, table)
    write_json(args.metrics, ev.metrics)
    write_bytes(args.montage, ev.montage_png)
    write_text(args.model_card, ev.model_card)
    t, fr = ev.metrics["test"], ev.metrics["froc"]
    auc = t["auc"]
    print(f"test AUC {auc['value']:.3f} (95% CI {auc['ci_low']:.3f}-{auc['ci_high']:.3f}), "
          f"sensitivity {t['sensitivity']['value']:.3f}, specificity "
          f"{t['specificity']['value']:.3f} at threshold {ev.metrics['threshold']['value']:.3f}; "
          f"CPM {fr['cpm']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
