"""Evaluate the cross-validation: out-of-fold figures of the model and the baseline, their paired
difference, per-fold spread, DVC plots, a Grad-CAM montage and the model card.

Returns everything the ``evaluate`` stage writes, as tables, dicts, PNG bytes and Markdown, so the
stage script only writes files (the per-candidate tables through
:mod:`pipeline.evaluation.output`, chunk by chunk). Per candidate it holds the two compact
out-of-fold tables (:func:`pipeline.evaluation.cv.read_oof`), the PR tables and the confusion
table as a categorical; the index is read in chunks.
"""

from __future__ import annotations

import json
import logging
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.data.candidates import ANNOTATION_COLUMNS
from pipeline.data.datasets import index_patients, index_rows
from pipeline.data.generated import read_generator_record
from pipeline.data.inputs import model_inputs
from pipeline.errors import PipelineError
from pipeline.evaluation.cv import (
    CLASSIFICATION,
    Cohort,
    Scored,
    bootstrap,
    interval,
    per_fold,
    read_oof,
    score,
    share_columns,
    spread,
)
from pipeline.evaluation.froc import FP_RATES, FrocResult
from pipeline.evaluation.gradcam import grad_cam
from pipeline.evaluation.output import Predictions
from pipeline.evaluation.params import EvaluateParams
from pipeline.evaluation.report import GROUPS, axial_views, render_montage
from pipeline.evaluation.track import generated_track
from pipeline.io import clean_nan, read_csv
from pipeline.memory import pin_mmap_threshold
from pipeline.metrics import pr_table, roc_table
from pipeline.models.tta import tta_mode
from pipeline.training.checkpoint import load_checkpoint, model_from_checkpoint
from pipeline.training.run import open_cubes

log = logging.getLogger(__name__)

CLASS_NAMES = ("not nodule", "nodule")
HEADLINE = (*CLASSIFICATION, "cpm")
#: what metrics/evaluate.json (``dvc metrics diff``) carries; the rest is in reports/evaluation.json
METRICS_HEADLINE = ("auc", "cpm", "sensitivity", "specificity")


@dataclass
class Evaluation:
    """The outputs of ``evaluate``."""

    predictions: Predictions         # out-of-fold predictions of the model and the baseline
    metrics: dict[str, Any]          # metrics/evaluate.json: the headline figures
    details: dict[str, Any]          # reports/evaluation.json: per fold, FROC points, provenance
    plots: dict[str, pd.DataFrame]   # file name under plots/eval -> table
    montage_png: bytes
    model_card: str


def read_cohort(patches_dir: str | Path) -> Cohort:
    """Annotations, excluded findings and scans of the patches folder."""
    patches_dir = Path(patches_dir)
    patient_of = index_patients(patches_dir)
    ann_path = patches_dir / "annotations.csv"
    if not ann_path.is_file():
        raise PipelineError(f"{ann_path}: expected the patches stage's annotations, not found")
    annotations = read_csv(ann_path, dtype={"seriesuid": str, "patient_id": str})
    exc_path = patches_dir / "annotations_excluded.csv"
    excluded = (read_csv(exc_path, dtype={"seriesuid": str}) if exc_path.is_file()
                else pd.DataFrame(columns=ANNOTATION_COLUMNS))
    patient_of.update(zip(annotations["seriesuid"], annotations["patient_id"], strict=True))
    excluded = excluded[excluded["seriesuid"].isin(set(patient_of))].assign(
        patient_id=lambda f: f["seriesuid"].map(patient_of))
    scans = pd.DataFrame({"series_uid": sorted(patient_of)})
    scans["patient_id"] = scans["series_uid"].map(patient_of)
    return Cohort(annotations=annotations, excluded=excluded, scans=scans)


def compare(model: Scored, baseline: Scored, cohort: Cohort, cfg: EvaluateParams
            ) -> dict[str, Any]:
    """Out-of-fold figures with CIs for both models and their paired differences."""
    points = {"model": model.figures(), "baseline": baseline.figures()}
    reps = bootstrap({"model": model, "baseline": baseline}, cohort, cfg.bootstrap, cfg.seed)
    out: dict[str, Any] = {}
    for name in ("model", "baseline"):
        out[name] = {k: interval(points[name][k], reps[name].get(k, [])) for k in points[name]}
    out["delta"] = {}
    for k in points["model"]:
        diffs = [a - b for a, b in zip(reps["model"].get(k, []), reps["baseline"].get(k, []),
                                       strict=True)]
        out["delta"][k] = interval(points["model"][k] - points["baseline"][k], diffs)
    return out


def _curve(fr: FrocResult) -> pd.DataFrame:
    curve = fr.curve[np.isfinite(fr.curve["threshold"])]  # the FROC template drops 0 FPs/scan
    return curve.round(6).reset_index(drop=True)


def confusion_table(labels: np.ndarray, predictions: np.ndarray) -> pd.DataFrame:
    """``actual, predicted`` class names of each candidate, as categoricals (a byte per cell)."""
    return pd.DataFrame({
        name: pd.Categorical.from_codes(np.asarray(v, dtype=np.int8), categories=CLASS_NAMES)
        for name, v in (("actual", labels), ("predicted", predictions))})


def plot_tables(model: Scored, baseline: Scored) -> dict[str, pd.DataFrame]:
    """ROC, PR and FROC of both models (out of fold), and the model's confusion at threshold."""
    tables: dict[str, pd.DataFrame] = {}
    for suffix, scored in (("", model), ("_baseline", baseline)):
        y, p = scored.oof["label"].to_numpy(), scored.oof["probability"].to_numpy()
        tables[f"roc{suffix}.csv"] = roc_table(y, p).round(6)
        tables[f"pr{suffix}.csv"] = pr_table(y, p).round(6)
        tables[f"froc{suffix}.csv"] = _curve(scored.froc)
    tables["confusion.csv"] = confusion_table(model.oof["label"].to_numpy(),
                                              model.oof["prediction"].to_numpy())
    return tables


def montage(model_oof: pd.DataFrame, fold_models: Mapping[int, Path], patches_dir: Path,
            per_group: int) -> bytes:
    """Grad-CAM of the most confident TPs, FPs and FNs, each by the fold model that scored it."""
    cubes = open_cubes(patches_dir)
    y = model_oof["label"].to_numpy()
    p = model_oof["probability"].to_numpy()
    pred = model_oof["prediction"].to_numpy(dtype=bool)
    desc, asc = np.argsort(-p, kind="stable"), np.argsort(p, kind="stable")
    chosen = {"true positive": desc[(y[desc] == 1) & pred[desc]][:per_group],
              "false positive": desc[(y[desc] == 0) & pred[desc]][:per_group],
              "false negative": asc[(y[asc] == 1) & ~pred[asc]][:per_group]}
    del desc, asc
    key_of = {int(i): (str(model_oof["series_uid"].iloc[i]), str(model_oof["candidate_id"].iloc[i]))
              for rows in chosen.values() for i in rows}
    row_of = index_rows(patches_dir, key_of.values())
    missing = sorted(set(key_of.values()) - set(row_of))
    if missing:
        raise PipelineError(f"{Path(patches_dir) / 'index.csv'}: candidate {missing[0][1]} of "
                            f"series {missing[0][0]} is scored but not in the index")
    loaded: dict[int, Any] = {}
    images: dict[str, np.ndarray] = {}
    cams: dict[str, np.ndarray] = {}
    captions: dict[str, list[str]] = {}
    for group in GROUPS:
        imgs, maps, caps = [], [], []
        for i in chosen[group]:
            fold = int(model_oof["fold"].iloc[i])
            if fold not in loaded:
                ckpt = load_checkpoint(fold_models[fold])
                loaded[fold] = (model_from_checkpoint(ckpt), ckpt)
            model, ckpt = loaded[fold]
            key = key_of[int(i)]
            cube = cubes.read([row_of[key]])
            cam = grad_cam(model, model_inputs(cube, ckpt["input_kind"], ckpt["preprocess"]))
            img, m = axial_views(cube, cam, ckpt["input_kind"], int(ckpt["preprocess"]["slice_px"]))
            imgs.append(img[0])
            maps.append(m[0])
            caps.append(f"{key[1]} p={p[i]:.2f}")
        if imgs:
            images[group], cams[group], captions[group] = np.stack(imgs), np.stack(maps), caps
    return render_montage(images, cams, captions, per_group)


def _fmt(entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    v, lo, hi = entry["value"], entry.get("ci_low"), entry.get("ci_high")
    if lo is None or hi is None:
        return f"{v:.3f}"
    return f"{v:.3f} ({lo:.3f} to {hi:.3f})"


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def scoring_sentence(train_params: Mapping[str, Any]) -> str:
    """What the model card says about test-time augmentation and calibration (nothing when
    there is neither)."""
    text = ""
    if tta_mode(train_params) != "none":
        text += (" Each fold model scores a candidate as its mean probability over every flip of "
                 "the input's axes (test-time augmentation, `train.tta: flips`), in the "
                 "cross-validation and in the exported graph alike.")
    if train_params.get("calibration", "none") == "platt":
        text += (" Each fold's scores are recalibrated by Platt scaling fitted on its inner "
                 "validation part (`train.calibration: platt`), so the pooled out-of-fold FROC "
                 "ranks candidates of different folds on one scale.")
    return text


def model_card(metrics: Mapping[str, Any], details: Mapping[str, Any]) -> str:
    """The model card: the template in ``templates/model_card.md`` filled from the figures."""
    text = resources.files("pipeline.evaluation").joinpath("templates/model_card.md").read_text(
        encoding="utf-8")
    cmp_ = details["comparison"]
    rows = [f"| {k} | {_fmt(cmp_['model'][k])} | {_fmt(cmp_['baseline'][k])} | "
            f"{_fmt(cmp_['delta'][k])} |" for k in HEADLINE]
    folds_rows = []
    for m, b in zip(details["per_fold"]["model"], details["per_fold"]["baseline"], strict=True):
        folds_rows.append(f"| {m['fold']} | {m['patients']} | {m['positives']} | "
                          f"{m['threshold']:.3f} | {_num(m['auc'])} | {_num(m['cpm'])} | "
                          f"{_num(b['auc'])} | {_num(b['cpm'])} |")
    sp = details["spread"]["model"]
    ckpt = details["checkpoint"]
    mapping = {
        "folds": metrics["protocol"]["folds"], "threshold_method": details["threshold_method"],
        "inner_val_pct": round(100 * details["inner_val"]), "patients": metrics["oof"]["patients"],
        "scans": details["cohort"]["scans"], "candidates": details["cohort"]["candidates"],
        "nodules": details["cohort"]["nodules"], "resamples": details["bootstrap"]["resamples"],
        "seed": details["bootstrap"]["seed"], "baseline_model": metrics["baseline"]["model"],
        "model": metrics["model"], "results_table": "\n".join(rows),
        "froc_points": ", ".join(f"{r:g} FP/scan {_fmt(cmp_['model'][f'sensitivity_at_{r:g}'])}"
                                 for r in FP_RATES),
        "folds_table": "\n".join(folds_rows),
        "auc_spread": f"mean {_num(sp['auc']['mean'])}, sd {_num(sp['auc']['std'])}, "
                      f"min {_num(sp['auc']['min'])}, max {_num(sp['auc']['max'])}",
        "cpm_spread": f"mean {_num(sp['cpm']['mean'])}, sd {_num(sp['cpm']['std'])}, "
                      f"min {_num(sp['cpm']['min'])}, max {_num(sp['cpm']['max'])}",
        "deployed_threshold": f"{metrics['deployed_threshold']:.4f}",
        "tta": scoring_sentence(ckpt["train_params"]),
        "train_params": ", ".join(f"{k}={v}" for k, v in ckpt["train_params"].items()
                                  if k not in ("device", "num_workers", "section")),
        "preprocess": json.dumps(ckpt["preprocess"], sort_keys=True),
        "data_hash": f"patches `{ckpt['data_hash'][:16]}`, folds `{ckpt['folds_hash'][:16]}`",
        "numerics": details["numerics"],
        "nodules_with_candidate": details["cohort"]["nodules_with_candidate"],
    }
    return string.Template(text).substitute(mapping)


def evaluate_cv(model_dirs: Sequence[Path], baseline_dirs: Sequence[Path],
                patches_dir: str | Path, cfg: EvaluateParams) -> Evaluation:
    """Every output of the evaluate stage from the folds' outputs (``oof.csv``, ``model.pt``)."""
    pin_mmap_threshold()  # freed per-candidate buffers go back to the system (allocation only)
    torch.manual_seed(cfg.seed)
    patches_dir = Path(patches_dir)
    model_oof = read_oof([Path(d) / "oof.csv" for d in model_dirs])
    baseline_oof = share_columns(read_oof([Path(d) / "oof.csv" for d in baseline_dirs]),
                                 model_oof)
    if set(model_oof["patient_id"].unique()) != set(baseline_oof["patient_id"].unique()):
        raise PipelineError("the model's and the baseline's out-of-fold predictions cover "
                            "different patients; rerun both on the same folds")
    cohort = read_cohort(patches_dir)
    model, baseline = score(model_oof, cohort), score(baseline_oof, cohort)
    cmp_ = compare(model, baseline, cohort, cfg)
    folds = {"model": per_fold(model, cohort), "baseline": per_fold(baseline, cohort)}
    ckpts = {int(load_checkpoint(Path(d) / "model.pt")["fold"]): Path(d) / "model.pt"
             for d in model_dirs}
    first = load_checkpoint(next(iter(ckpts.values())))
    base_first = load_checkpoint(Path(baseline_dirs[0]) / "model.pt")
    thresholds = [r["threshold"] for r in folds["model"]]
    fr = model.froc
    metrics: dict[str, Any] = {
        "protocol": {"kind": "kfold", "folds": len(model_dirs), "unit": "patient"},
        "model": str(first["model_name"]),
        "oof": {"patients": int(model_oof["patient_id"].nunique()),
                **{k: cmp_["model"][k] for k in METRICS_HEADLINE}},
        "baseline": {"model": str(base_first["model_name"]),
                     **{k: cmp_["baseline"][k] for k in ("auc", "cpm")},
                     "delta_auc": cmp_["delta"]["auc"], "delta_cpm": cmp_["delta"]["cpm"]},
        "deployed_threshold": round(float(np.median(thresholds)), 6),
    }
    generator = read_generator_record(patches_dir)
    if generator is not None:  # the generated track: generator alone and full system
        metrics["candidates"] = generated_track(generator, fr, cmp_["model"]["cpm"])
    details: dict[str, Any] = {
        "comparison": cmp_, "per_fold": folds,
        "spread": {name: {k: spread(rows, k) for k in HEADLINE} for name, rows in folds.items()},
        "threshold_method": str(first["train_params"]["threshold"]),
        "inner_val": float(_inner_val_of(model_dirs)),
        "bootstrap": {"resamples": cfg.bootstrap, "unit": "patient", "paired": True,
                      "seed": cfg.seed, "confidence": 0.95},
        "cohort": {"patients": int(cohort.scans["patient_id"].nunique()),
                   "scans": len(cohort.scans), "candidates": len(model_oof),
                   "nodules": len(cohort.annotations), "excluded_findings": len(cohort.excluded),
                   "nodules_with_candidate": int(fr.n_detected)},
        "checkpoint": {k: first[k] for k in ("model_name", "train_params", "preprocess",
                                             "data_hash", "folds_hash")},
        "numerics": "oneDNN capped at AVX2, torch threads pinned (pipeline.numerics)",
    }
    predictions = Predictions(parts=(
        (model_oof, {"model": metrics["model"], "role": "model"}),
        (baseline_oof, {"model": metrics["baseline"]["model"], "role": "baseline"})))
    plots = plot_tables(model, baseline)
    png = montage(model_oof, ckpts, patches_dir, cfg.montage_per_group)
    card = model_card(clean_nan(metrics), clean_nan(details))
    return Evaluation(predictions=predictions, metrics=clean_nan(metrics),
                      details=clean_nan(details), plots=plots, montage_png=png, model_card=card)


def _inner_val_of(model_dirs: Sequence[Path]) -> float:
    """The inner validation share recorded by the folds' summaries."""
    summary = json.loads((Path(model_dirs[0]) / "summary.json").read_text(encoding="utf-8"))
    return float(summary.get("inner_val_fraction", math.nan))
