"""FROC and CPM exactly as the LUNA16 evaluation kit computes them.

The reference is ``noduleCADEvaluationLUNA16.py`` (Setio et al., 2017, "Validation, comparison,
and combination of algorithms for automatic detection of pulmonary nodules in CT images"). Every
rule below is the kit's, including its corner cases:

* Only the listed scans count; candidates and findings of other scans are ignored.
* A scan keeps at most ``MAX_MARKS_PER_SCAN`` (100) candidates: when it has more, only those
  scoring *strictly above* the 101st highest score are kept (ties at that score all go).
* A candidate *hits* a finding when its squared distance to the centre is *strictly* below the
  squared radius, both computed with the C library's ``pow`` as the kit does; a negative diameter
  means ``DEFAULT_DIAMETER_MM`` (10 mm).
* A nodule (``annotations``) is detected at the highest score of all candidates that hit it; a
  candidate hitting two nodules counts for both. Candidates hitting a nodule are never false
  positives; the extra hits of a nodule are ignored.
* A candidate that hits no nodule but an ``excluded`` finding (``annotations_excluded.csv``) is
  ignored: neither a true nor a false positive.
* The curve is the ROC of the detected nodules (one score each) against the false positives,
  rescaled: ``fps = fpr * n_fp / n_scans`` and ``sensitivity = tpr * n_detected / n_nodules``, in
  that floating-point order, with scikit-learn's ``roc_curve`` (ties between a nodule and false
  positives make one diagonal step). Missed nodules lower the sensitivity but add no point. A
  listed scan without candidates still counts in ``n_scans``.
* The sensitivity at a rate is ``np.interp`` of that curve (linear between its points, its last
  value beyond them); the CPM is their mean at 1/8, 1/4, 1/2, 1, 2, 4 and 8 FPs per scan. The kit
  interpolates its curve the same way for its plot; it prints no CPM.
* The bootstrap draws the listed scans with replacement (``np.random.randint``, so the same seed
  draws the same scans as the kit under ``np.random.seed``) and recomputes the curve; bounds are the
  kit's ``vec[floor(Pz * n)]`` and ``vec[floor((1 - Pz) * n)]`` of the sorted replicates.

Where the kit gives NaN or crashes, this module chooses (docs/froc.md lists each case): no nodule
detected gives sensitivity 0 (the kit: NaN), no included nodule gives NaN (as the kit), no candidate
at all gives sensitivity 0 (the kit: an error), and bootstrap replicates without any nodule are
skipped (the kit sorts their NaNs in).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_curve

from pipeline.errors import PipelineError

FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_MARKS_PER_SCAN = 100
DEFAULT_DIAMETER_MM = 10.0
BOOTSTRAP_CONFIDENCE = 0.95
_XYZ = ["coordX", "coordY", "coordZ"]
_UID_COLUMNS = ("seriesuid", "series_uid")
_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class ScanEntries:
    """The kit's FROC vectors of one scan: one entry per nodule and one per false positive."""

    is_nodule: np.ndarray  # bool: a nodule (kit: FROCGTList 1.0) or a false positive
    score: np.ndarray      # float: the nodule's best hit score, or the false positive's score
    detected: np.ndarray   # bool: False only for missed nodules (kit: excludeList True)


@dataclass(frozen=True)
class FrocResult:
    """The FROC curve and its summary."""

    curve: pd.DataFrame                # threshold, fps_per_scan, sensitivity (the kit's points)
    sensitivities: dict[float, float]  # sensitivity at each FP rate
    cpm: float
    n_nodules: int
    n_scans: int
    n_detected: int                    # nodules hit by at least one kept candidate
    n_false_positives: int = 0
    n_ignored: int = 0                 # candidates on excluded findings only
    n_double_hits: int = 0             # extra candidates on an already-hit nodule
    n_dropped: int = 0                 # candidates over the per-scan cap
    scans: tuple[ScanEntries, ...] = ()  # one per evaluated scan, for the bootstrap
    scan_ids: tuple[str, ...] = ()     # the uid of each of ``scans`` but the empty padding


@dataclass(frozen=True)
class Matching:
    """How each candidate and each nodule of one table pair was classified."""

    nodule_scores: np.ndarray  # per annotation row: best hit score, NaN when missed
    is_hit: np.ndarray         # per candidate: hits at least one nodule
    is_ignored: np.ndarray     # per candidate: hits no nodule but an excluded finding
    is_kept: np.ndarray        # per candidate: within the per-scan cap
    n_double_hits: int


@dataclass(frozen=True)
class CpmInterval:
    """Percentile bootstrap interval of the CPM over scans drawn with replacement."""

    low: float
    high: float
    n_resamples: int
    n_used: int        # replicates with at least one nodule
    seed: int
    confidence: float


def _uid_column(frame: pd.DataFrame, name: str) -> str:
    for col in _UID_COLUMNS:
        if col in frame.columns:
            return col
    raise PipelineError(f"{name} must have a 'seriesuid' (or 'series_uid') column, "
                        f"got {list(frame.columns)}")


def _columns(frame: pd.DataFrame, name: str, value_cols: list[str]
             ) -> tuple[np.ndarray, np.ndarray]:
    """(uids as str, float values) of ``frame``; finite values only."""
    uid = _uid_column(frame, name)
    missing = [c for c in value_cols if c not in frame.columns]
    if missing:
        raise PipelineError(f"{name} must have columns {['seriesuid', *value_cols]}, "
                            f"missing {missing}")
    try:
        values = frame[value_cols].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{name}: non-numeric value in {value_cols}: {exc}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise PipelineError(f"{name} row {row}: {value_cols[col]} is not a finite number "
                            f"({values[row, col]})")
    return frame[uid].astype(str).to_numpy(), values


def cap_marks(scores: np.ndarray, max_marks: int = MAX_MARKS_PER_SCAN) -> np.ndarray:
    """The kit's per-scan cap: with more than ``max_marks`` candidates, keep those scoring strictly
    above the ``max_marks + 1``-th highest score (so ties at that score are all dropped)."""
    scores = np.asarray(scores, dtype=np.float64)
    if max_marks <= 0 or len(scores) <= max_marks:
        return np.ones(len(scores), dtype=bool)
    cut = np.sort(scores)[::-1][max_marks]
    return scores > cut


def _kit_pow2(v: float) -> float:
    return math.pow(v, 2.0)


def squared_radius(diameter_mm: float) -> float:
    """``(diameter / 2)^2`` as the kit computes it; a negative diameter means 10 mm."""
    d = float(diameter_mm)
    if d < 0.0:
        d = DEFAULT_DIAMETER_MM
    return pow(d / 2.0, 2.0)


def hit_matrix(finding_xyz: np.ndarray, r2: np.ndarray, cand_xyz: np.ndarray) -> np.ndarray:
    """``(n_findings, n_candidates)`` bool: squared distance strictly below ``r2``.

    NumPy squares are correctly rounded while the kit sums C ``pow(d, 2.0)`` terms, which can differ
    by one unit in the last place; pairs that close to the boundary are recomputed the kit's way.
    """
    diff = finding_xyz[:, None, :] - cand_xyz[None, :, :]
    d2 = (diff[..., 0] ** 2 + diff[..., 1] ** 2) + diff[..., 2] ** 2
    hits = d2 < r2[:, None]
    near = np.argwhere(np.abs(d2 - r2[:, None]) <= 16 * _EPS * (d2 + r2[:, None]))
    for i, j in near:
        dx, dy, dz = (float(v) for v in finding_xyz[i] - cand_xyz[j])
        hits[i, j] = (_kit_pow2(dx) + _kit_pow2(dy)) + _kit_pow2(dz) < float(r2[i])
    return hits


def _groups(uids: np.ndarray) -> dict[str, np.ndarray]:
    if not len(uids):
        return {}
    keys, inverse = np.unique(uids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    return {str(k): order[bounds[i]:bounds[i + 1]] for i, k in enumerate(keys)}


def match_candidates(candidates: pd.DataFrame, annotations: pd.DataFrame,
                     excluded: pd.DataFrame | None = None,
                     max_marks: int = MAX_MARKS_PER_SCAN) -> Matching:
    """Classify candidates and score nodules by the kit's rules (module docstring).

    Args:
        candidates: ``seriesuid`` (or ``series_uid``), ``coordX, coordY, coordZ, probability``.
        annotations: the nodules, ``seriesuid, coordX, coordY, coordZ, diameter_mm``.
        excluded: findings to ignore (``annotations_excluded.csv``), same columns, or None.
        max_marks: per-scan cap on candidates (0: no cap).
    """
    c_uid, c_val = _columns(candidates, "candidates", [*_XYZ, "probability"])
    a_uid, a_val = _columns(annotations, "annotations", [*_XYZ, "diameter_mm"])
    if excluded is not None:
        e_uid, e_val = _columns(excluded, "excluded findings", [*_XYZ, "diameter_mm"])
    else:
        e_uid, e_val = np.array([], dtype=str), np.zeros((0, 4))
    is_kept = np.zeros(len(c_uid), dtype=bool)
    is_hit = np.zeros(len(c_uid), dtype=bool)
    is_ignored = np.zeros(len(c_uid), dtype=bool)
    nodule_scores = np.full(len(a_uid), np.nan)
    a_r2 = np.array([squared_radius(d) for d in a_val[:, 3]])
    e_r2 = np.array([squared_radius(d) for d in e_val[:, 3]])
    ann_by_scan, exc_by_scan = _groups(a_uid), _groups(e_uid)
    doubles = 0
    for uid, rows in _groups(c_uid).items():
        rows = rows[cap_marks(c_val[rows, 3], max_marks)]
        is_kept[rows] = True
        xyz, prob = c_val[rows, :3], c_val[rows, 3]
        if uid in ann_by_scan:
            nod = ann_by_scan[uid]
            hits = hit_matrix(a_val[nod, :3], a_r2[nod], xyz)
            is_hit[rows[hits.any(axis=0)]] = True
            n_hits = hits.sum(axis=1)
            doubles += int(np.maximum(n_hits - 1, 0).sum())
            best = np.where(hits, prob[None, :], -np.inf).max(axis=1, initial=-np.inf)
            nodule_scores[nod] = np.where(n_hits > 0, best, np.nan)
        if uid in exc_by_scan:
            exc = exc_by_scan[uid]
            on_excluded = hit_matrix(e_val[exc, :3], e_r2[exc], xyz).any(axis=0)
            is_ignored[rows[on_excluded & ~is_hit[rows]]] = True
    return Matching(nodule_scores, is_hit, is_ignored, is_kept, doubles)


def kit_curve(entries: Iterable[ScanEntries], n_scans: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fps_per_scan, sensitivity, thresholds)`` of the kit's ``computeFROC``."""
    parts = list(entries)
    is_nod = np.concatenate([e.is_nodule for e in parts]) if parts else np.zeros(0, bool)
    score = np.concatenate([e.score for e in parts]) if parts else np.zeros(0)
    detected = np.concatenate([e.detected for e in parts]) if parts else np.zeros(0, bool)
    keep = detected | ~is_nod
    gt, prob = is_nod[keep].astype(np.float64), score[keep]
    n_nodules = float(is_nod.sum())
    n_detected = float(gt.sum())
    n_fp = float(len(gt)) - n_detected
    if len(gt) == 0:  # the kit fails on an empty ROC: nothing is found
        return np.zeros(1), np.full(1, np.nan if n_nodules == 0 else 0.0), np.array([np.inf])
    with warnings.catch_warnings():  # one class only: the kit's NaNs, replaced below
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fpr, tpr, thresholds = roc_curve(gt, prob)
    # the kit's "this system has no false positives" case: all points at 0 FPs per scan
    fps = np.zeros(len(fpr)) if n_fp == 0 else fpr * n_fp / n_scans
    if n_nodules == 0:  # no nodule: sensitivity undefined (the kit: 0/0 = NaN)
        return fps, np.full(len(fps), np.nan), thresholds
    if n_detected == 0:  # the kit: 0/0 = NaN; but no nodule is found, so sensitivity 0
        return fps, np.zeros(len(fps)), thresholds
    sens = (tpr * n_detected) / n_nodules
    return fps, sens, thresholds


def sensitivities_at(fps: np.ndarray, sens: np.ndarray, fp_rates: Sequence[float] = FP_RATES
                     ) -> dict[float, float]:
    """The kit's interpolated sensitivity (``np.interp`` of its curve) at each rate."""
    return {float(r): float(np.interp(r, fps, sens)) for r in fp_rates}


def mean_sensitivity(values: Iterable[float]) -> float:
    """The CPM of sensitivities at the FP rates: their mean (NaN without any)."""
    vals = list(values)
    return float(np.mean(vals)) if vals else float("nan")


def scan_entries(matching: Matching, c_uid: np.ndarray, c_prob: np.ndarray, a_uid: np.ndarray,
                 scan_ids: Sequence[str]) -> list[ScanEntries]:
    """The kit's FROC vectors of each scan in ``scan_ids`` (same order)."""
    fp = matching.is_kept & ~matching.is_hit & ~matching.is_ignored
    fp_by_scan, ann_by_scan = _groups(c_uid[fp]), _groups(a_uid)
    fp_prob = c_prob[fp]
    out = []
    for uid in scan_ids:
        nod = ann_by_scan.get(uid, np.zeros(0, dtype=int))
        scores = matching.nodule_scores[nod]
        fps = fp_prob[fp_by_scan.get(uid, np.zeros(0, dtype=int))]
        found = np.isfinite(scores)
        out.append(ScanEntries(
            is_nodule=np.concatenate([np.ones(len(nod), bool), np.zeros(len(fps), bool)]),
            score=np.concatenate([np.where(found, scores, -1e9), fps]),
            detected=np.concatenate([found, np.ones(len(fps), bool)])))
    return out


def _listed(uids: np.ndarray, scan_ids: Sequence[str]) -> np.ndarray:
    listed = set(scan_ids)
    return np.fromiter((u in listed for u in uids), dtype=bool, count=len(uids))


def froc(candidates: pd.DataFrame, annotations: pd.DataFrame, n_scans: int | None = None,
         fp_rates: Sequence[float] = FP_RATES, *, excluded: pd.DataFrame | None = None,
         scan_ids: Sequence[str] | None = None, max_marks: int = MAX_MARKS_PER_SCAN
         ) -> FrocResult:
    """FROC curve and CPM of scored ``candidates`` vs ``annotations``, by the LUNA16 kit's rules.

    Args:
        candidates: ``seriesuid`` (or ``series_uid``), ``coordX, coordY, coordZ, probability``.
        annotations: ``seriesuid, coordX, coordY, coordZ, diameter_mm`` (the nodules).
        n_scans: scans evaluated (the FP-rate divisor). Without ``scan_ids`` it must be at least
            the number of distinct scans in the two tables; the rest are scans without any row.
        excluded: findings whose candidates are ignored (``annotations_excluded.csv``).
        scan_ids: the scans to evaluate (the kit's ``seriesuids.csv``); rows of other scans are
            ignored. Must be unique; ``n_scans``, if given, must equal its length.
        max_marks: per-scan cap on candidates (the kit: 100; 0: no cap).
    """
    c_uid = candidates[_uid_column(candidates, "candidates")].astype(str).to_numpy()
    a_uid = annotations[_uid_column(annotations, "annotations")].astype(str).to_numpy()
    if scan_ids is not None:
        ids = [str(s) for s in scan_ids]
        dupes = sorted({s for s in ids if ids.count(s) > 1}) if len(set(ids)) < len(ids) else []
        if dupes:
            raise PipelineError(f"scan_ids lists scan {dupes[0]} more than once")
        if n_scans is not None and n_scans != len(ids):
            raise PipelineError(f"n_scans={n_scans} but {len(ids)} scan_ids were given")
        c_in, a_in = _listed(c_uid, ids), _listed(a_uid, ids)
        candidates, c_uid = candidates[c_in], c_uid[c_in]
        annotations, a_uid = annotations[a_in], a_uid[a_in]
        if excluded is not None:
            e_uid = excluded[_uid_column(excluded, "excluded findings")].astype(str)
            excluded = excluded[_listed(e_uid.to_numpy(), ids)]
        padding = 0
    else:
        ids = sorted(set(c_uid) | set(a_uid))
        if n_scans is None:
            n_scans = len(ids)
        if n_scans < len(ids):
            raise PipelineError(f"n_scans={n_scans} but the tables hold {len(ids)} scans")
        padding = n_scans - len(ids)
    total_scans = len(ids) + padding
    if total_scans < 1:
        raise PipelineError("FROC needs at least one scan, got none")
    matching = match_candidates(candidates, annotations, excluded, max_marks)
    c_prob = candidates["probability"].to_numpy(dtype=np.float64)
    entries = scan_entries(matching, c_uid, c_prob, a_uid, ids)
    empty = ScanEntries(np.zeros(0, bool), np.zeros(0), np.zeros(0, bool))
    entries += [empty] * padding
    fps, sens, thresholds = kit_curve(entries, total_scans)
    curve = pd.DataFrame({"threshold": thresholds, "fps_per_scan": fps, "sensitivity": sens})
    sensitivities = sensitivities_at(fps, sens, fp_rates)
    n_fp = int((matching.is_kept & ~matching.is_hit & ~matching.is_ignored).sum())
    return FrocResult(
        curve=curve, sensitivities=sensitivities, cpm=mean_sensitivity(sensitivities.values()),
        n_nodules=len(a_uid), n_scans=total_scans,
        n_detected=int(np.isfinite(matching.nodule_scores).sum()), n_false_positives=n_fp,
        n_ignored=int(matching.is_ignored.sum()), n_double_hits=matching.n_double_hits,
        n_dropped=int((~matching.is_kept).sum()), scans=tuple(entries), scan_ids=tuple(ids))


def bootstrap_sensitivities(result: FrocResult, n_resamples: int, seed: int,
                            fp_rates: Sequence[float] = FP_RATES) -> np.ndarray:
    """``(n_resamples, len(fp_rates))`` sensitivities of the kit's scan bootstrap.

    Each replicate draws ``n_scans`` scans with replacement with the legacy
    ``np.random.RandomState(seed).randint`` stream (the kit draws from ``np.random.randint``), so a
    seed reproduces the kit's replicates; a row is NaN when the replicate holds no nodule.
    """
    rng = np.random.RandomState(seed)
    n = len(result.scans)
    out = np.full((n_resamples, len(fp_rates)), np.nan)
    for b in range(n_resamples):
        pick = rng.randint(n, size=n)
        fps, sens, _ = kit_curve((result.scans[i] for i in pick), n)
        if np.isfinite(sens).all():
            out[b] = [np.interp(r, fps, sens) for r in fp_rates]
    return out


def kit_percentiles(values: np.ndarray, confidence: float = BOOTSTRAP_CONFIDENCE
                    ) -> tuple[float, float]:
    """The kit's bounds: ``vec[floor(Pz * n)]``, ``vec[floor((1 - Pz) * n)]`` of sorted values."""
    vec = np.sort(np.asarray(values, dtype=np.float64))
    if not len(vec):
        return float("nan"), float("nan")
    pz = (1.0 - confidence) / 2.0
    hi = min(int(math.floor((1.0 - pz) * len(vec))), len(vec) - 1)
    return float(vec[int(math.floor(pz * len(vec)))]), float(vec[hi])


def cpm_bootstrap_ci(result: FrocResult, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = BOOTSTRAP_CONFIDENCE,
                     fp_rates: Sequence[float] = FP_RATES) -> CpmInterval:
    """Patient (scan) bootstrap interval of the CPM, resampling scans as the kit does."""
    if n_resamples < 0:
        raise PipelineError(f"bootstrap samples must be >= 0, got {n_resamples}")
    if not 0 < confidence < 1:
        raise PipelineError(f"bootstrap confidence must be in (0, 1), got {confidence}")
    sens = bootstrap_sensitivities(result, n_resamples, seed, fp_rates)
    cpms = sens.mean(axis=1) if len(fp_rates) else np.full(n_resamples, np.nan)
    cpms = cpms[np.isfinite(cpms)]
    low, high = kit_percentiles(cpms, confidence)
    return CpmInterval(low=low, high=high, n_resamples=n_resamples, n_used=len(cpms), seed=seed,
                       confidence=confidence)
