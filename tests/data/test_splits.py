"""Patient-level splits: disjoint, reproducible, order-independent, positives in every split."""

import pandas as pd
import pytest

from pipeline.config import SplitParams
from pipeline.data.splits import assign_splits, split_counts

PARAMS = SplitParams(seed=7, train=0.6, val=0.2, test=0.2)
PATIENTS = [f"PAT{i:03d}" for i in range(40)]
POSITIVE = PATIENTS[::5]  # 8 patients with a nodule


def test_no_patient_is_in_two_splits():
    candidates = pd.DataFrame({"patient_id": [p for p in PATIENTS for _ in range(3)]})
    splits = assign_splits(candidates["patient_id"], POSITIVE, PARAMS)
    assert splits["patient_id"].is_unique and set(splits["patient_id"]) == set(PATIENTS)
    joined = candidates.merge(splits, on="patient_id")
    assert (joined.groupby("patient_id")["split"].nunique() == 1).all()


def test_assignment_is_reproducible_and_independent_of_input_order():
    first = assign_splits(PATIENTS, POSITIVE, PARAMS)
    second = assign_splits(list(reversed(PATIENTS)), set(POSITIVE), PARAMS)
    assert first.equals(second)


def test_seed_changes_the_assignment():
    other = SplitParams(seed=8, train=0.6, val=0.2, test=0.2)
    assert not assign_splits(PATIENTS, POSITIVE, PARAMS).equals(
        assign_splits(PATIENTS, POSITIVE, other))


def test_every_split_has_positive_patients_when_possible():
    positives = PATIENTS[:3]
    splits = assign_splits(PATIENTS, positives, PARAMS).set_index("patient_id")["split"]
    assert sorted(splits[positives]) == ["test", "train", "val"]


def test_split_sizes_follow_the_fractions():
    counts = assign_splits(PATIENTS, POSITIVE, PARAMS)["split"].value_counts()
    assert counts.to_dict() == {"train": 24, "val": 8, "test": 8}


@pytest.mark.parametrize("n, min_each, expected", [
    (5, False, [3, 1, 1]), (4, True, [2, 1, 1]), (2, True, [1, 1, 0]), (1, False, [1, 0, 0]),
])
def test_split_counts_use_largest_remainder(n, min_each, expected):
    assert split_counts(n, (0.6, 0.2, 0.2), min_each) == expected
