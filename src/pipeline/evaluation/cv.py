"""Out-of-fold evaluation: every patient scored by the fold model that did not see it.

The figures are computed over the out-of-fold predictions of the whole cohort, as LUNA16 computes
its FROC over all 888 scans; each carries a percentile bootstrap CI over patients. The baseline
is compared on the same patients with a paired bootstrap: each replicate draws one set of
patients and scores both models on it, so the CI of the difference reflects the pairing.

Memory follows the number of candidates only through a few bytes per candidate: the out-of-fold
tables hold their ids as categories (series, patient) and integers (candidate), and the FROC of a
subset of scans (one fold, one bootstrap replicate) is recomposed from the per-scan entries of
the one FROC over the whole cohort (the kit matches each scan on its own, and its curve depends
only on the entries drawn and their number of scans), so no replicate copies the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.datasets import read_compact
from pipeline.errors import InputError, PipelineError
from pipeline.evaluation.froc import (
    FP_RATES,
    FrocResult,
    ScanEntries,
    froc,
    kit_curve,
    mean_sensitivity,
    sensitivities_at,
)
from pipeline.metrics import auc
from pipeline.training.oof import OOF

CLASSIFICATION = ("auc", "sensitivity", "specificity", "precision", "f1")
#: an oof.csv's ids: series and patient are held as categories, the candidate as an integer
ID_COLUMNS = ("series_uid", "patient_id", "candidate_id")
READ_CHUNK_ROWS = 16_384
_NO_SCAN = ScanEntries(np.zeros(0, bool), np.zeros(0), np.zeros(0, bool))
_NO_ROWS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Cohort:
    """What every out-of-fold figure is computed against."""

    annotations: pd.DataFrame      # seriesuid, coords, diameter_mm, patient_id
    excluded: pd.DataFrame         # LUNA16 annotations_excluded.csv rows (may be empty)
    scans: pd.DataFrame            # series_uid, patient_id of every evaluated scan


def read_oof(paths: Sequence[str | Path], chunk_rows: int = READ_CHUNK_ROWS) -> pd.DataFrame:
    """Concatenate the folds' ``oof.csv`` files; each patient must be scored by exactly one fold.

    Rows are sorted by ``series_uid`` then ``candidate_id`` (as text). The table is compact and
    writes the same CSV text as the files' rows (:func:`pipeline.data.datasets.read_compact`):
    ``series_uid`` and ``patient_id`` are categoricals with sorted categories, ``candidate_id``
    is int64 when every id is a plain decimal integer (else text), integer columns take the
    smallest integer type; the files are read ``chunk_rows`` rows at a time.
    """
    if not paths:
        raise PipelineError("expected at least one fold's oof.csv, got none")
    for path in map(Path, paths):
        if not path.is_file():
            raise PipelineError(f"{path}: expected a train stage's oof.csv, not found")
        header = list(pd.read_csv(path, nrows=0).columns)
        missing = [c for c in OOF.names if c not in header]
        if missing:
            raise InputError(f"{path}: expected the columns {list(OOF.names)} of an oof.csv, "
                             f"missing {missing}")
    oof = read_compact(paths, chunk_rows=chunk_rows, numeric=[
        name for name, kind in OOF.columns if kind not in ("uid", "text")])
    _check_one_fold_per_patient(oof)
    oof = oof.take(_text_order(oof)).reset_index(drop=True)
    if _has_duplicates(oof):
        raise PipelineError("a candidate is scored twice across the folds' oof.csv")
    return oof


def share_columns(oof: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``oof`` with each column equal to ``like``'s taken from ``like``, not copied.

    The baseline's out-of-fold table repeats the model's ids, coordinates, labels and folds
    row for row; sharing them keeps one copy. Values, dtypes and column order are unchanged.
    """
    if len(oof) != len(like):
        return oof
    data = {}
    for col in oof.columns:
        same = (col in like.columns and oof[col].dtype == like[col].dtype
                and oof[col].equals(like[col]))
        data[col] = like[col] if same else oof[col]
    return pd.DataFrame(data, columns=oof.columns, copy=False)


def _codes(column: pd.Series) -> np.ndarray:
    return np.asarray(column.cat.codes, dtype=np.int64)


def _check_one_fold_per_patient(oof: pd.DataFrame) -> None:
    folds = pd.Series(oof["fold"].to_numpy()).groupby(_codes(oof["patient_id"])).nunique()
    if (folds > 1).any():
        bad = oof["patient_id"].cat.categories[int(folds.index[folds.to_numpy() > 1][0])]
        raise PipelineError(f"patient {bad} is scored by more than one fold")


def _id_text(ids: pd.Series) -> np.ndarray:
    """The candidate ids as fixed-width text, which NumPy orders as Python orders the strings."""
    if ids.dtype == np.int64:
        return ids.to_numpy().astype("S")
    return np.asarray(ids.to_numpy(), dtype=str)


def _text_order(oof: pd.DataFrame) -> np.ndarray:
    return np.lexsort((_id_text(oof["candidate_id"]), _codes(oof["series_uid"])))


def _has_duplicates(oof: pd.DataFrame) -> bool:
    """Whether two rows (sorted by series, candidate) share their series and candidate."""
    series, cand = _codes(oof["series_uid"]), oof["candidate_id"].to_numpy()
    return bool(np.any((series[1:] == series[:-1]) & (cand[1:] == cand[:-1])))


def _classification(y: np.ndarray, pred: np.ndarray, p: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {"auc": auc(y, p), "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "precision": ratio(tp, tp + fp),
            "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def _arrays(oof: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(label int64, prediction bool, probability float64)`` of every row."""
    return (oof["label"].to_numpy(dtype=np.int64), oof["prediction"].to_numpy(dtype=bool),
            oof["probability"].to_numpy(dtype=np.float64))


def classification(oof: pd.DataFrame) -> dict[str, float]:
    """AUC on the probabilities; the rest at each row's own fold threshold (``prediction``)."""
    return _classification(*_arrays(oof))


def froc_of(oof: pd.DataFrame, cohort: Cohort, scans: pd.DataFrame | None = None) -> FrocResult:
    """LUNA16 FROC of the out-of-fold candidates over ``scans`` (default: every scan)."""
    scans = cohort.scans if scans is None else scans
    uids = set(scans["series_uid"])
    listed = oof["series_uid"].isin(uids).to_numpy()
    cands = oof if listed.all() else oof[listed]
    ann = cohort.annotations[cohort.annotations["seriesuid"].isin(uids)]
    exc = cohort.excluded[cohort.excluded["seriesuid"].isin(uids)]
    return froc(cands, ann, max(len(uids), 1), excluded=exc)


def froc_figures(entries: Iterable[ScanEntries], n_scans: int) -> dict[str, float]:
    """CPM and the sensitivity at each FP rate of the kit's curve over ``entries``."""
    fps, sens, _ = kit_curve(entries, n_scans)
    at = sensitivities_at(fps, sens, FP_RATES)
    return {"cpm": mean_sensitivity(at.values())} | {
        f"sensitivity_at_{r:g}": at[float(r)] for r in FP_RATES}


def _froc_point(fr: FrocResult) -> dict[str, float]:
    return {"cpm": fr.cpm} | {f"sensitivity_at_{r:g}": fr.sensitivities[float(r)]
                              for r in FP_RATES}


def figures(oof: pd.DataFrame, cohort: Cohort, scans: pd.DataFrame | None = None
            ) -> dict[str, float]:
    """Every headline figure of one set of out-of-fold predictions."""
    return classification(oof) | _froc_point(froc_of(oof, cohort, scans))


@dataclass(frozen=True)
class Scored:
    """One model's out-of-fold predictions and their FROC over every scan of the cohort."""

    oof: pd.DataFrame
    froc: FrocResult

    def figures(self) -> dict[str, float]:
        """The headline figures over every patient (as :func:`figures`)."""
        return classification(self.oof) | _froc_point(self.froc)

    def entries_by_scan(self) -> dict[str, ScanEntries]:
        """The kit's FROC entries of each scan that has candidates or nodules."""
        return dict(zip(self.froc.scan_ids, self.froc.scans, strict=False))

    def rows_by_patient(self) -> dict[str, np.ndarray]:
        """Each patient's rows, in table order."""
        return _groups(self.oof["patient_id"])


def score(oof: pd.DataFrame, cohort: Cohort) -> Scored:
    """``oof`` with its FROC over every scan of ``cohort``."""
    return Scored(oof=oof, froc=froc_of(oof, cohort))


def _groups(column: pd.Series) -> dict[str, np.ndarray]:
    """Rows of each value of a categorical (or plain) column, in row order."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    codes = _codes(column)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(column.cat.categories) + 1))
    return {str(name): order[bounds[i]:bounds[i + 1]]
            for i, name in enumerate(column.cat.categories) if bounds[i + 1] > bounds[i]}


def _scans_by_patient(cohort: Cohort) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for uid, patient in zip(cohort.scans["series_uid"], cohort.scans["patient_id"], strict=True):
        out.setdefault(str(patient), []).append(str(uid))
    return out


def bootstrap(models: Mapping[str, Scored], cohort: Cohort, n_resamples: int, seed: int,
              alpha: float = 0.05) -> dict[str, dict[str, list[float]]]:
    """Paired patient bootstrap: ``{model: {figure: [replicate values]}}`` on shared draws.

    Each replicate draws the cohort's patients with replacement; a patient drawn twice counts
    twice (its scans are distinct scans of the replicate). The classification figures are those
    of the drawn patients' rows, the FROC that of their scans' entries.
    """
    patients = sorted(set(cohort.scans["patient_id"]))
    scans_of = _scans_by_patient(cohort)
    n_scans_of = np.array([len(scans_of.get(p, ())) for p in patients], dtype=np.int64)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    prepared = []
    for name, scored in models.items():
        rows_of, by_scan = scored.rows_by_patient(), scored.entries_by_scan()
        prepared.append((name, _arrays(scored.oof), [rows_of.get(p, _NO_ROWS) for p in patients],
                         [[by_scan.get(u, _NO_SCAN) for u in scans_of.get(p, ())]
                          for p in patients]))
    for _ in range(n_resamples):
        pick = rng.integers(0, len(patients), size=len(patients))
        n_scans = max(int(n_scans_of[pick].sum()), 1)
        for name, (y, pred, p), rows, entries in prepared:
            idx = np.concatenate([rows[i] for i in pick]) if len(pick) else _NO_ROWS
            figs = _classification(y[idx], pred[idx], p[idx]) | froc_figures(
                (e for i in pick for e in entries[i]), n_scans)
            for key, value in figs.items():
                out[name].setdefault(key, []).append(value)
    return out


def interval(point: float, replicates: Sequence[float], alpha: float = 0.05
             ) -> dict[str, float | None]:
    """``{value, ci_low, ci_high}`` (percentile CI; undefined replicates skipped; NaN -> None)."""
    vals = np.asarray([v for v in replicates if not math.isnan(v)], dtype=np.float64)
    lo, hi = ((float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2)))
              if len(vals) else (math.nan, math.nan))
    return {k: (None if math.isnan(v) else round(v, 6))
            for k, v in (("value", point), ("ci_low", lo), ("ci_high", hi))}


def per_fold(scored: Scored, cohort: Cohort) -> list[dict[str, Any]]:
    """The figures of each fold on its own held-out patients (their spread is the error bar)."""
    oof = scored.oof
    fold = oof["fold"].to_numpy()
    y, pred, p = _arrays(oof)
    fold_of = {patient: fold[rows[0]] for patient, rows in scored.rows_by_patient().items()}
    by_scan = scored.entries_by_scan()
    rows_out = []
    for f in sorted(np.unique(fold)):
        patients = {k for k, v in fold_of.items() if v == f}
        scans = cohort.scans[cohort.scans["patient_id"].isin(patients)]
        uids = set(scans["series_uid"])
        mask = fold == f
        figs = _classification(y[mask], pred[mask], p[mask]) | froc_figures(
            [by_scan.get(u, _NO_SCAN) for u in sorted(uids)], max(len(uids), 1))
        rows_out.append({"fold": int(f), "patients": len(patients), "scans": len(scans),
                         "candidates": int(mask.sum()), "positives": int(y[mask].sum()),
                         "threshold": float(oof["threshold"].to_numpy()[mask][0]),
                         **{k: (None if math.isnan(v) else round(v, 6))
                            for k, v in figs.items()}})
    return rows_out


def spread(rows: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Mean, standard deviation (ddof 1), min and max of a per-fold figure."""
    vals = np.asarray([r[key] for r in rows if r[key] is not None], dtype=np.float64)
    if not len(vals):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": round(float(vals.mean()), 6),
            "std": round(float(vals.std(ddof=1)), 6) if len(vals) > 1 else 0.0,
            "min": round(float(vals.min()), 6), "max": round(float(vals.max()), 6)}
