"""The ``evaluate`` stage: the out-of-fold figures of the model and the seed2d baseline with
patient-bootstrap CIs, their paired difference, per-fold spread, LUNA16 FROC/CPM, DVC plots, a
Grad-CAM montage, the model card and its figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli import StageReport
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
from pipeline.evaluation.run import Evaluation, evaluate_cv
from pipeline.io import write_bytes, write_json, write_text

ROLES = ("model", "baseline")


def _ci(entry: Mapping[str, Any]) -> str:
    if entry.get("value") is None:
        return "n/a"
    if entry.get("ci_low") is None or entry.get("ci_high") is None:
        return f"{entry['value']:+.3f}"
    return f"{entry['value']:+.3f} ({entry['ci_low']:+.3f} to {entry['ci_high']:+.3f})"


def write_figures(ev: Evaluation, out: Path, curves: Path) -> None:
    """The model card's PNGs: out-of-fold ROC, FROC and confusion, fold 0's training curves
    (``curves``: the dvclive folders ``<curves>/{model,baseline}/fold0/plots/metrics``)."""
    cmp_ = ev.details["comparison"]
    at = {name: {float(r): cmp_[name][f"sensitivity_at_{r:g}"]["value"] for r in FP_RATES}
          for name in ROLES}
    names = {"label": ev.metrics["model"], "baseline_label": ev.metrics["baseline"]["model"]}
    roc_figure(ev.plots["roc.csv"], out / "roc.png", baseline=ev.plots["roc_baseline.csv"],
               title="ROC, out of fold (every patient)", **names)
    froc_figure(ev.plots["froc.csv"], out / "froc.png", sensitivity_at=at["model"],
                baseline=ev.plots["froc_baseline.csv"], baseline_sensitivity_at=at["baseline"],
                title="FROC, out of fold (LUNA16)", **names)
    confusion_figure(ev.plots["confusion.csv"], out / "confusion.png",
                     classes=("nodule", "not nodule"), label=names["label"],
                     title="Confusion, out of fold (fold thresholds)")
    fold0 = [curves / role / "fold0" / "plots" / "metrics" for role in ROLES]
    if fold0[0].is_dir():
        base = read_dvclive_curves(fold0[1]) if fold0[1].is_dir() else None
        training_curves_figure(read_dvclive_curves(fold0[0]), out / "training_curves.png",
                               baseline=base, title="Training curves, fold 0", **names)


@dataclass
class EvaluateReport(StageReport):
    evaluation: Evaluation

    def write(self, predictions: Path, metrics: Path, details: Path, plots: Path, montage: Path,
              model_card: Path, figures: Path, train_curves: Path) -> None:
        ev = self.evaluation
        write_predictions(predictions, ev.predictions)
        for name, table in ev.plots.items():
            write_table(plots / name, table)
        write_json(metrics, ev.metrics)
        write_json(details, ev.details)
        write_bytes(montage, ev.montage_png)
        write_text(model_card, ev.model_card)
        write_figures(ev, figures, train_curves)

    def summary(self) -> str:
        oof, base = self.evaluation.metrics["oof"], self.evaluation.metrics["baseline"]
        return (f"out of fold ({oof['patients']} patients): AUC {_ci(oof['auc'])}, CPM "
                f"{_ci(oof['cpm'])}; vs {base['model']}: delta AUC {_ci(base['delta_auc'])}, "
                f"delta CPM {_ci(base['delta_cpm'])}")


def run(folds_dir: Path, patches: Path, fold_ids: Sequence[int], cfg: EvaluateParams
        ) -> EvaluateReport:
    """Evaluate the train stages' outputs ``<folds_dir>/{model,baseline}/fold<i>/``."""
    dirs = {role: [folds_dir / role / f"fold{i}" for i in fold_ids] for role in ROLES}
    return EvaluateReport(evaluate_cv(dirs["model"], dirs["baseline"], patches, cfg))
