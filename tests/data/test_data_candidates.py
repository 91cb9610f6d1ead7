"""pipeline.data.candidates: which candidates are checked, merged and tied to which nodule."""

import numpy as np
import pandas as pd
import pytest

from pipeline.data.candidates import (
    ANNOTATION_COLUMNS,
    CANDIDATE_COLUMNS,
    match_annotations,
    merge_candidates,
    prepare_table,
)
from pipeline.errors import PipelineError


def _cands(rows):
    frame = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    return prepare_table(frame.astype(str), CANDIDATE_COLUMNS, "candidate_id", "candidates.csv")


def _anns(rows):
    frame = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
    return prepare_table(frame.astype(str), ANNOTATION_COLUMNS, "annotation_id",
                         "annotations.csv")


def test_prepare_table_numbers_rows_and_casts_types():
    out = _cands([["1.2", 1, 2, 3, 0], ["1.2", 4, 5, 6, 1]])
    assert list(out["candidate_id"]) == [0, 1]
    assert out["coordX"].dtype == np.float64 and out["class"].dtype == np.int64


def test_prepare_table_names_the_missing_column():
    with pytest.raises(PipelineError, match=r"candidates.csv: expected .* missing \['class'\]"):
        prepare_table(pd.DataFrame({"seriesuid": ["1"], "coordX": [0], "coordY": [0],
                                    "coordZ": [0]}), CANDIDATE_COLUMNS, "candidate_id",
                      "candidates.csv")


def test_a_class_other_than_0_or_1_is_rejected_with_row_and_column():
    with pytest.raises(PipelineError, match=r"row 2 .*column class"):
        _cands([["1.2", 1, 2, 3, 0], ["1.2", 4, 5, 6, 2]])


def test_positive_inside_the_radius_gets_the_nearest_nodule_negative_gets_none():
    cands = _cands([["s", 0, 0, 0, 1], ["s", 9, 0, 0, 1], ["s", 0, 0, 0, 0], ["t", 0, 0, 0, 1]])
    anns = _anns([["s", 1, 0, 0, 10.0], ["s", -2, 0, 0, 10.0], ["s", 30, 0, 0, 4.0]])
    out = match_annotations(cands, anns)
    assert out["annotation_id"].iloc[0] == 0          # 1 mm from nodule 0, 2 mm from nodule 1
    assert pd.isna(out["annotation_id"].iloc[1])      # 8 mm from nodule 0: outside its 5 mm radius
    assert pd.isna(out["annotation_id"].iloc[2])      # a negative is never tied to a nodule
    assert pd.isna(out["annotation_id"].iloc[3])      # another series has no nodule
    assert out["diameter_mm"].iloc[0] == 10.0 and np.isnan(out["diameter_mm"].iloc[2])


def test_merging_keeps_the_positive_its_position_and_the_smallest_id():
    cands = _cands([["s", 0, 0, 0, 0], ["s", 1, 0, 0, 1], ["s", 50, 0, 0, 0],
                    ["t", 0.5, 0, 0, 0]])
    out = merge_candidates(cands, 2.0)
    s = out[out["seriesuid"] == "s"].sort_values("candidate_id")
    assert list(s["n_merged"]) == [2, 1]
    first = s.iloc[0]
    assert first["candidate_id"] == 0 and first["class"] == 1 and first["coordX"] == 1.0
    assert len(out[out["seriesuid"] == "t"]) == 1     # other series never merge


def test_merge_distance_zero_is_a_no_op():
    cands = _cands([["s", 0, 0, 0, 0], ["s", 0.1, 0, 0, 1]])
    out = merge_candidates(cands, 0.0)
    assert len(out) == 2 and (out["n_merged"] == 1).all()
