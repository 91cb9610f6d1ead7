"""Patient-level train/val/test splits: deterministic, stratified on having a nodule.

A patient is never in two splits: every series, candidate and slice follows its patient.

Algorithm:
1. Patients are ordered by ``HMAC-SHA256(key=str(seed), msg=patient_id)``, so the assignment does
   not depend on the input order and changes completely with the seed.
2. Split sizes for all patients are proportional to the fractions (largest remainder; ties go
   train, val, test). Patients with at least one positive are split first, the same way; when
   there are at least as many as splits, every split gets at least one (taken from the largest).
   The other patients fill each split up to its size.
3. Within each group, the first patients in hash order go to train, the next to val, the rest to
   test.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline.config import SplitParams

SPLITS = ("train", "val", "test")


def patient_key(patient_id: str, seed: int) -> str:
    """Hex HMAC-SHA256 of ``patient_id`` keyed by the seed: the patient's place in the order."""
    return hmac.new(str(seed).encode(), str(patient_id).encode(), hashlib.sha256).hexdigest()


def split_counts(n: int, fractions: tuple[float, float, float], min_each: bool) -> list[int]:
    """Counts per split summing to ``n`` (largest remainder), each >= 1 if ``min_each`` allows."""
    exact = np.asarray(fractions, dtype=np.float64) * n
    counts = np.floor(exact + 1e-9).astype(int)
    remainders = exact - counts
    extra = max(0, n - int(counts.sum()))
    for i in sorted(range(len(counts)), key=lambda i: (-round(remainders[i], 9), i))[:extra]:
        counts[i] += 1
    if min_each and n >= len(counts):
        for i in range(len(counts)):
            if counts[i] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
    return [int(c) for c in counts]


def assign_splits(patient_ids: Iterable[str], positive_patients: Iterable[str],
                  params: SplitParams) -> pd.DataFrame:
    """``patient_id, split`` for every patient, sorted by patient_id.

    Args:
        patient_ids: every pseudonymous patient ID (duplicates ignored).
        positive_patients: the IDs of patients with at least one nodule (positive candidate).
        params: seed and fractions.
    """
    patients = sorted({str(p) for p in patient_ids})
    positives = {str(p) for p in positive_patients}
    fractions = (params.train, params.val, params.test)
    ordered = sorted(patients, key=lambda p: (patient_key(p, params.seed), p))
    pos = [p for p in ordered if p in positives]
    neg = [p for p in ordered if p not in positives]
    totals = split_counts(len(patients), fractions, min_each=False)
    pos_counts = split_counts(len(pos), fractions, min_each=True)
    neg_counts = [t - p for t, p in zip(totals, pos_counts, strict=True)]
    while min(neg_counts) < 0:  # forced positives can exceed a small split's total
        neg_counts[neg_counts.index(min(neg_counts))] += 1
        neg_counts[neg_counts.index(max(neg_counts))] -= 1
    assignment: dict[str, str] = {}
    for group, counts in ((pos, pos_counts), (neg, neg_counts)):
        start = 0
        for name, count in zip(SPLITS, counts, strict=True):
            for p in group[start:start + count]:
                assignment[p] = name
            start += count
    return pd.DataFrame({"patient_id": patients, "split": [assignment[p] for p in patients]},
                        columns=["patient_id", "split"])
