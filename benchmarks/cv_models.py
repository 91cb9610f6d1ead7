"""Patient-level k-fold cross-validation of a model and the seed2d baseline on a patches folder.

Reads a ``patches`` stage output (every split's cubes and ``index.csv``), pools all patients,
deals them into ``--folds`` stratified folds (patients with a nodule first, in HMAC order of the
pseudonymous id keyed by ``--fold-seed``), and for each fold ``i`` trains each model with the
library's loop on the other folds minus an inner validation part (a stratified ~``--inner-val``
share of the training patients, which selects the epoch), then scores fold ``i``. Prints, per
model, the out-of-fold AUC and LUNA16 CPM over every patient, the per-fold spread, the seconds and
samples/s per fold, the data-wait share, and the paired patient-bootstrap CI of the difference.

    python benchmarks/cv_models.py --patches data/processed/patches --models cnn3d seed2d

Train params come from ``--params`` (``train:``), overridden per model with
``--set MODEL.key=value`` (``--set seed2d.lr=0.001``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from pipeline.config import TrainParams, load_params
from pipeline.data.datasets import SPLITS, PatchDataset, load_index, load_preprocess, load_split
from pipeline.data.splits import patient_key
from pipeline.evaluation.froc import FP_RATES, froc, match_candidates
from pipeline.io import read_csv
from pipeline.models.inference import predict_proba
from pipeline.models.registry import build_model, default_model_kwargs, input_kind
from pipeline.training.loop import train_model
from pipeline.training.seed import seed_everything


def load_cohort(patches: Path) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Every split's cubes stacked, their index rows in the same order, annotations, preprocess."""
    index = load_index(patches)
    parts = [load_split(patches, s, index) for s in SPLITS if (index["split"] == s).any()]
    cubes = np.concatenate([p.cubes for p in parts])
    rows = pd.concat([p.index for p in parts], ignore_index=True)
    return cubes, rows, read_csv(patches / "annotations.csv"), load_preprocess(patches)


def stratified_folds(patients: Sequence[str], positive: set[str], k: int, seed: int
                     ) -> dict[str, int]:
    """Patient -> fold 0..k-1: positives dealt round-robin in HMAC order, then the others."""
    out: dict[str, int] = {}
    ordered = sorted(set(patients), key=lambda p: (patient_key(p, seed), p))
    pos = [p for p in ordered if p in positive]
    neg = [p for p in ordered if p not in positive]
    for i, p in enumerate(pos + neg):
        out[p] = i % k
    return out


def inner_split(patients: Sequence[str], positive: set[str], fraction: float, seed: int
                ) -> set[str]:
    """The inner validation patients: about ``fraction`` of positives and of the others."""
    val: set[str] = set()
    ordered = sorted(set(patients), key=lambda p: (patient_key(p, seed), p))
    for group in ([p for p in ordered if p in positive], [p for p in ordered if p not in positive]):
        n = max(1, round(fraction * len(group))) if group else 0
        val |= set(group[:n])
    return val


class FastCPM:
    """CPM of candidate scores over a patient resample, with candidate-nodule hits found once."""

    def __init__(self, rows: pd.DataFrame, annotations: pd.DataFrame) -> None:
        dummy = rows.assign(probability=0.0)
        _, self.is_hit = match_candidates(dummy, annotations)
        self.ann_hits: list[np.ndarray] = []
        cand_series = rows["series_uid"].astype(str).to_numpy()
        xyz = rows[["coordX", "coordY", "coordZ"]].to_numpy(dtype=np.float64)
        for a in annotations.itertuples():
            same = np.flatnonzero(cand_series == str(a.seriesuid))
            d = np.linalg.norm(xyz[same] - np.array([a.coordX, a.coordY, a.coordZ]), axis=1)
            self.ann_hits.append(same[d <= a.diameter_mm / 2.0])
        series_patient = dict(zip(rows["series_uid"].astype(str), rows["patient_id"], strict=False))
        ann_patient = annotations["seriesuid"].astype(str).map(series_patient).to_numpy()
        self.patients = np.array(sorted(rows["patient_id"].unique()))
        pid = {p: i for i, p in enumerate(self.patients)}
        self.cand_group = rows["patient_id"].map(pid).to_numpy()
        self.ann_group = np.array([pid.get(p, -1) for p in ann_patient])
        scans = set(rows["series_uid"].astype(str)) | set(annotations["seriesuid"].astype(str))
        self.scans_per_patient = np.zeros(len(self.patients))
        for s in scans:
            p = series_patient.get(s)
            if p is not None:
                self.scans_per_patient[pid[p]] += 1

    def cpm(self, probs: np.ndarray, counts: np.ndarray | None = None) -> float:
        """CPM with each patient weighted by ``counts`` (its multiplicity in a resample)."""
        counts = np.ones(len(self.patients)) if counts is None else counts
        n_scans = float((counts * self.scans_per_patient).sum())
        fp_mask = ~self.is_hit
        fp_scores = probs[fp_mask]
        fp_w = counts[self.cand_group[fp_mask]]
        tp = np.array([probs[h].max() if len(h) else -np.inf for h in self.ann_hits])
        tp_w = np.array([counts[g] if g >= 0 else 0.0 for g in self.ann_group])
        n_nod = tp_w.sum()
        if n_nod == 0 or n_scans == 0:
            return float("nan")
        thresholds = np.unique(np.concatenate([tp[np.isfinite(tp)], fp_scores]))[::-1]
        sens, fps = [0.0], [0.0]
        o_tp, o_fp = np.argsort(-tp), np.argsort(-fp_scores)
        tp_s, tp_ws = tp[o_tp], np.cumsum(tp_w[o_tp])
        fp_s, fp_ws = fp_scores[o_fp], np.cumsum(fp_w[o_fp])
        n_tp = np.searchsorted(-tp_s, -thresholds, side="right")
        n_fp = np.searchsorted(-fp_s, -thresholds, side="right")
        sens += list(np.where(n_tp > 0, tp_ws[np.maximum(n_tp - 1, 0)], 0.0) / n_nod)
        fps += list(np.where(n_fp > 0, fp_ws[np.maximum(n_fp - 1, 0)], 0.0) / n_scans)
        s_arr, f_arr = np.array(sens), np.array(fps)
        return float(np.mean([s_arr[f_arr <= r + 1e-12].max() for r in FP_RATES]))


def train_fold(name: str, cfg: TrainParams, cubes: np.ndarray, labels: np.ndarray,
               preprocess: dict[str, Any], tr: np.ndarray, va: np.ndarray, te: np.ndarray,
               intensity: float = 0.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Train ``name`` on rows ``tr``, select on ``va``, return probabilities of rows ``te``."""
    generator = seed_everything(cfg.seed)
    kind = input_kind(name)
    model = build_model(name, **default_model_kwargs(name, preprocess))
    train_ds = PatchDataset(cubes[tr], labels[tr], kind, preprocess, augment=cfg.augment,
                            seed=cfg.seed, intensity=intensity)
    val_ds = PatchDataset(cubes[va], labels[va], kind, preprocess, augment=False)
    t0 = time.perf_counter()
    result = train_model(model, train_ds, val_ds, cfg, generator, device=torch.device("cpu"))
    seconds = time.perf_counter() - t0
    model.load_state_dict(result.best_state)
    test_ds = PatchDataset(cubes[te], labels[te], kind, preprocess, augment=False)
    probs = predict_proba(model, test_ds.all_inputs())
    val_losses = [h["val_loss"] for h in result.history]
    info = {"seconds": seconds, "best_epoch": result.best_epoch + 1,
            "epochs_run": result.epochs_run, "val_auc": result.val_auc,
            "samples_per_second": result.samples_per_second,
            "data_wait": result.data_wait_fraction,
            "val_loss_jumps": float(np.max(np.abs(np.diff(val_losses)))) if len(val_losses) > 1
            else 0.0, "val_losses": [round(v, 3) for v in val_losses]}
    return probs, info


def parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        model, _, field = key.partition(".")
        out.setdefault(model, {})[field] = json.loads(value) if value[:1] in "-0123456789tf[{\"" \
            else value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--models", nargs="+", default=["cnn3d", "seed2d"])
    p.add_argument("--set", nargs="*", default=[], dest="sets", metavar="MODEL.KEY=VALUE")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only-folds", type=int, nargs="*", default=None)
    p.add_argument("--fold-seed", type=int, default=7)
    p.add_argument("--inner-val", type=float, default=0.2)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--intensity", type=float, default=0.0,
                   help="intensity jitter of the training augmentation (0 = off)")
    p.add_argument("--save", type=Path, default=None, help="write the out-of-fold table here")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cubes, rows, annotations, preprocess = load_cohort(args.patches)
    labels = rows["label"].to_numpy(dtype=np.int64)
    pids = rows["patient_id"].astype(str).to_numpy()
    positive = set(pids[labels == 1])
    folds = stratified_folds(list(pids), positive, args.folds, args.fold_seed)
    fold_of = np.array([folds[p] for p in pids])
    base = load_params(args.params).train
    sets = parse_sets(args.sets)
    run_folds = args.only_folds if args.only_folds is not None else list(range(args.folds))
    print(f"{len(rows)} candidates ({labels.sum()} positive), {len(set(pids))} patients, "
          f"{len(annotations)} nodules, {args.folds} folds; running folds {run_folds}")
    oof: dict[str, np.ndarray] = {}
    per_fold: dict[str, list[dict[str, Any]]] = {}
    for name in args.models:
        cfg = dataclasses.replace(base, model=name, device="cpu", **sets.get(name, {}))
        print(f"== {name}: {cfg}")
        probs = np.full(len(rows), np.nan)
        per_fold[name] = []
        for k in run_folds:
            te = np.flatnonzero(fold_of == k)
            train_patients = sorted(set(pids[fold_of != k]))
            inner = inner_split(train_patients, positive, args.inner_val, args.fold_seed + 1 + k)
            in_inner = np.isin(pids, list(inner))
            tr = np.flatnonzero((fold_of != k) & ~in_inner)
            va = np.flatnonzero((fold_of != k) & in_inner)
            probs[te], info = train_fold(name, cfg, cubes, labels, preprocess, tr, va, te,
                                         args.intensity)
            fold_rows = rows.iloc[te].assign(probability=probs[te])
            fold_ann = annotations[annotations["seriesuid"].isin(set(fold_rows["series_uid"]))]
            n_scans = len(set(fold_rows["series_uid"]))
            info |= {"fold": k, "auc": roc_auc_score(labels[te], probs[te]),
                     "cpm": froc(fold_rows, fold_ann, n_scans).cpm, "n_train": len(tr)}
            per_fold[name].append(info)
            print(f"  fold {k}: AUC {info['auc']:.3f} CPM {info['cpm']:.3f} | best epoch "
                  f"{info['best_epoch']}/{info['epochs_run']} inner-val AUC {info['val_auc']:.3f}"
                  f" | {info['seconds']:.1f}s, {info['samples_per_second']:.0f} samples/s, "
                  f"data wait {info['data_wait']:.1%}, max val-loss jump "
                  f"{info['val_loss_jumps']:.3f}", flush=True)
            if args.verbose:
                print(f"    val losses {info['val_losses']}")
        oof[name] = probs
    if args.save is not None:
        rows.assign(fold=fold_of, **{f"p_{n}": oof[n] for n in args.models}).to_csv(
            args.save, index=False)
    done = np.isfinite(oof[args.models[0]])
    sub_rows = rows[done].reset_index(drop=True)
    sub_ann = annotations[annotations["seriesuid"].isin(set(sub_rows["series_uid"]))]
    fast = FastCPM(sub_rows, sub_ann)
    n_scans = len(set(sub_rows["series_uid"]) | set(sub_ann["seriesuid"]))
    print(f"== out-of-fold over {len(set(sub_rows['patient_id']))} patients, {n_scans} scans, "
          f"{len(sub_ann)} nodules")
    summary = {}
    for name in args.models:
        pr = oof[name][done]
        fr = froc(sub_rows.assign(probability=pr), sub_ann, n_scans)
        auc = roc_auc_score(labels[done], pr)
        if abs(fast.cpm(pr) - fr.cpm) > 1e-9:
            raise RuntimeError(f"fast CPM {fast.cpm(pr)} disagrees with froc {fr.cpm}")
        pf = per_fold[name]
        summary[name] = (auc, fr.cpm)
        print(f"{name:<10} OOF AUC {auc:.4f}  CPM {fr.cpm:.4f}  sens@FP "
              + " ".join(f"{v:.2f}" for v in fr.sensitivities.values())
              + f" | folds AUC {min(f['auc'] for f in pf):.3f}-{max(f['auc'] for f in pf):.3f}"
              f" CPM {min(f['cpm'] for f in pf):.3f}-{max(f['cpm'] for f in pf):.3f}"
              f" (sd {np.std([f['cpm'] for f in pf]):.3f}) | "
              f"{np.mean([f['seconds'] for f in pf]):.1f} s/fold, "
              f"{np.mean([f['samples_per_second'] for f in pf]):.0f} samples/s, "
              f"data wait {np.mean([f['data_wait'] for f in pf]):.1%}")
    if len(args.models) >= 2 and args.bootstrap:
        a, b = args.models[0], args.models[1]
        rng = np.random.default_rng(99)
        n_p = len(fast.patients)
        d_cpm, d_auc = [], []
        cand_group = fast.cand_group
        for _ in range(args.bootstrap):
            counts = np.bincount(rng.integers(0, n_p, n_p), minlength=n_p).astype(np.float64)
            d_cpm.append(fast.cpm(oof[a][done], counts) - fast.cpm(oof[b][done], counts))
            idx = np.repeat(np.arange(len(sub_rows)), counts[cand_group].astype(int))
            y = labels[done][idx]
            if 0 < y.sum() < len(y):
                d_auc.append(roc_auc_score(y, oof[a][done][idx])
                             - roc_auc_score(y, oof[b][done][idx]))
        for label, vals, point in (("CPM", d_cpm, summary[a][1] - summary[b][1]),
                                   ("AUC", d_auc, summary[a][0] - summary[b][0])):
            lo, hi = np.quantile(vals, [0.025, 0.975])
            print(f"delta {label} ({a} - {b}): {point:+.4f}, paired patient bootstrap 95% CI "
                  f"[{lo:+.4f}, {hi:+.4f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
