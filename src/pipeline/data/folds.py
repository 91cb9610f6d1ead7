"""Patient-level k-fold cross-validation: which patients each fold trains on, tunes on, scores.

LUNA16 evaluates by 10-fold cross-validation over all scans and nnU-Net by 5 folds: every patient
is scored by the model of the one fold that did not see it, so the out-of-fold predictions cover
the whole cohort. A patient is never in two folds: every series and candidate follows its patient.

Assignment (deterministic, independent of input order):
1. Patients are ordered by ``HMAC-SHA256(key=str(seed), msg=patient_id)``.
2. Patients with nodules are dealt to folds first, round robin, most nodules first (ties in hash
   order), so every fold gets nodules when there are at least ``k`` such patients and the nodule
   counts stay balanced; the other patients are then dealt to the folds with the fewest patients.
Within the training folds of fold ``i``, the inner validation part (which selects the epoch and
the operating threshold) is chosen the same way: stratified on having a nodule, in hash order.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputError, PipelineError
from pipeline.tables import Table

#: ``folds.csv``: the fold of every pseudonymous patient, with its positive and all candidates
FOLDS = Table("folds.csv", "folds", (("patient_id", "uid"), ("fold", "int"), ("positives", "int"),
                                     ("candidates", "int")))
FOLD_COLUMNS = list(FOLDS.names)
#: The parts of the candidates a fold uses: trains on, validates on (inner), scores (held out).
SPLITS = ("train", "val", "heldout")
ROLES = SPLITS


def patient_key(patient_id: str, seed: int) -> str:
    """Hex HMAC-SHA256 of ``patient_id`` keyed by the seed: the patient's place in the order."""
    return hmac.new(str(seed).encode(), str(patient_id).encode(), hashlib.sha256).hexdigest()


def assign_folds(nodules_per_patient: Mapping[str, int], candidates_per_patient: Mapping[str, int],
                 folds: int, seed: int) -> pd.DataFrame:
    """The fold table: ``patient_id, fold, positives, candidates``, sorted by patient_id.

    Args:
        nodules_per_patient: positive candidates per pseudonymous patient (0 allowed).
        candidates_per_patient: candidates per patient (for the table only).
        folds: ``k`` >= 2.
        seed: the order's key.
    """
    if folds < 2:
        raise PipelineError(f"cross-validation needs at least 2 folds, got {folds}")
    patients = sorted(set(nodules_per_patient) | set(candidates_per_patient))
    if len(patients) < folds:
        raise PipelineError(f"{len(patients)} patients cannot fill {folds} folds: lower cv.folds")
    order = {p: patient_key(p, seed) for p in patients}
    nod = {p: int(nodules_per_patient.get(p, 0)) for p in patients}
    pos = sorted((p for p in patients if nod[p] > 0), key=lambda p: (-nod[p], order[p], p))
    neg = sorted((p for p in patients if nod[p] == 0), key=lambda p: (order[p], p))
    fold_of: dict[str, int] = {}
    size = [0] * folds
    for i, p in enumerate(pos):
        fold_of[p] = i % folds
        size[i % folds] += 1
    for p in neg:
        f = min(range(folds), key=lambda j: (size[j], j))
        fold_of[p] = f
        size[f] += 1
    return pd.DataFrame({"patient_id": patients, "fold": [fold_of[p] for p in patients],
                         "positives": [nod[p] for p in patients],
                         "candidates": [int(candidates_per_patient.get(p, 0)) for p in patients]},
                        columns=FOLD_COLUMNS)


def folds_from_subsets(subset_per_patient: Mapping[str, Iterable[str]],
                       nodules_per_patient: Mapping[str, int],
                       candidates_per_patient: Mapping[str, int], folds: int) -> pd.DataFrame:
    """The fold table when the fold of a patient is its LUNA16 subset number (``subsetN/``).

    LUNA16's protocol: its ten subsets are the ten folds, so fold ``i`` holds out subset ``i``.
    Args:
        subset_per_patient: the subset cells (text; ``""`` when none) of each patient's series.
        nodules_per_patient, candidates_per_patient: as :func:`assign_folds`.
        folds: ``k``; the subsets must be exactly ``0..k-1``.

    Raises:
        PipelineError: a series without a subset, a patient in two subsets, or subsets that are
            not ``0..k-1`` (naming what was found).
    """
    patients = sorted(set(nodules_per_patient) | set(candidates_per_patient))
    fold_of: dict[str, int] = {}
    for p in patients:
        cells = {str(c).strip() for c in subset_per_patient.get(p, ())}
        if not cells or not all(c.isdigit() for c in cells):
            raise PipelineError(f"patient {p}: a series has no subset (not in a subsetN/ folder); "
                                "cv.folds_from: subset needs every scan in a LUNA16 subsetN/ "
                                "folder, else use cv.folds_from: patient")
        numbers = sorted({int(c) for c in cells})
        if len(numbers) > 1:
            raise PipelineError(f"patient {p}: series in subsets {numbers}; a patient must sit in "
                                "one subset (one fold)")
        fold_of[p] = numbers[0]
    found = sorted(set(fold_of.values()))
    if found != list(range(folds)):
        raise PipelineError(f"subsets {found} do not match cv.folds = {folds} (cv.fold_ids "
                            f"0..{folds - 1}): with cv.folds_from: subset fold i is subset i, so "
                            f"set cv.folds and cv.fold_ids to the subsets present")
    return pd.DataFrame({"patient_id": patients, "fold": [fold_of[p] for p in patients],
                         "positives": [int(nodules_per_patient.get(p, 0)) for p in patients],
                         "candidates": [int(candidates_per_patient.get(p, 0)) for p in patients]},
                        columns=FOLD_COLUMNS)


def inner_validation(patients: Iterable[str], positive_patients: Iterable[str], fraction: float,
                     seed: int) -> set[str]:
    """The inner validation patients among a fold's training patients (stratified, >= 1 each)."""
    patients = sorted(set(patients))
    positives = set(positive_patients)
    chosen: set[str] = set()
    for group in ([p for p in patients if p in positives],
                  [p for p in patients if p not in positives]):
        if not group:
            continue
        ordered = sorted(group, key=lambda p: (patient_key(p, seed + 1), p))
        n = int(round(fraction * len(ordered)))
        n = min(max(n, 1), len(ordered) - 1) if len(ordered) > 1 else 0
        chosen.update(ordered[:n])
    return chosen


@dataclass(frozen=True)
class FoldPlan:
    """Which candidate rows fold ``fold`` trains on, validates on (inner) and scores (held out)."""

    fold: int
    role: np.ndarray   # one of ROLES per row of index.csv

    def rows(self, role: str) -> np.ndarray:
        if role not in ROLES:
            raise PipelineError(f"role must be one of {list(ROLES)}, got {role!r}")
        return np.flatnonzero(self.role == role)


def plan_fold(index: pd.DataFrame, fold_table: pd.DataFrame, fold: int, inner_val: float,
              seed: int) -> FoldPlan:
    """Roles of every candidate row of ``index`` (``patient_id``, ``label``) for ``fold``."""
    known = set(fold_table["fold"].astype(int))
    if fold not in known:
        raise PipelineError(f"fold {fold} is not in the fold table (folds {sorted(known)})")
    fold_of = dict(zip(fold_table["patient_id"].astype(str), fold_table["fold"].astype(int),
                       strict=True))
    patients = index["patient_id"].astype(str).to_numpy()
    missing = sorted(set(patients) - set(fold_of))
    if missing:
        raise PipelineError(f"{len(missing)} patients of index.csv have no fold (first: "
                            f"{missing[0]}); rerun the folds stage")
    fold_per_row = np.array([fold_of[p] for p in patients], dtype=np.int64)
    training = sorted({p for p, f in fold_of.items() if f != fold})
    positive = set(index.loc[index["label"].to_numpy() == 1, "patient_id"].astype(str))
    val = inner_validation(training, positive & set(training), inner_val, seed + fold)
    role = np.where(fold_per_row == fold, "heldout",
                    np.where(np.isin(patients, sorted(val)), "val", "train")).astype(object)
    return FoldPlan(fold=fold, role=role)


def read_folds(path: str | Path) -> pd.DataFrame:
    """Read the fold table (:data:`FOLDS`), checked for its columns and cells.

    Raises:
        InputError: missing file, missing column or a bad cell (one line naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected the folds stage's fold table, not found")
    return FOLDS.read(path)


def write_folds(path: str | Path, table: pd.DataFrame) -> None:
    """Write the fold table (atomic)."""
    FOLDS.write(path, table)


def fold_summary(table: pd.DataFrame) -> list[dict[str, int]]:
    """Patients, nodules and candidates per fold (for the metrics and the model card)."""
    out = []
    for fold, part in table.groupby("fold", sort=True):
        out.append({"fold": int(fold), "patients": len(part),
                    "patients_with_positives": int((part["positives"] > 0).sum()),
                    "positives": int(part["positives"].sum()),
                    "candidates": int(part["candidates"].sum())})
    return out
