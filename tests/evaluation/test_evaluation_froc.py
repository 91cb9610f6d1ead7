import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation.froc import froc, match_candidates

# Two scans. A (S1, d=10 -> r=5), B (S1, d=4 -> r=2), C (S2, d=6 -> r=3).
ANNOTATIONS = pd.DataFrame({
    "seriesuid": ["S1", "S1", "S2"], "coordX": [0.0, 50.0, 0.0], "coordY": [0.0, 0.0, 0.0],
    "coordZ": [0.0, 0.0, 0.0], "diameter_mm": [10.0, 4.0, 6.0]})
CANDIDATES = pd.DataFrame({
    "series_uid": ["S1", "S1", "S1", "S1", "S2", "S2", "S2"],
    "coordX": [1.0, 0.0, 53.0, 20.0, 0.0, 10.0, 50.0],
    "coordY": [0.0, 2.0, 0.0, 0.0, 0.0, 10.0, 0.0],
    "coordZ": [0.0, 0.0, 0.0, 0.0, 2.0, 10.0, 0.0],
    "probability": [0.9, 0.6, 0.8, 0.7, 0.4, 0.95, 0.5]})
# hits: cand 0 and 1 -> A (A scores 0.9, counted once); cand 2 is 3 mm from B (r=2): FP;
# cand 4 -> C (0.4); cand 6 is at B's position but in the other scan: FP. FPs: .95 .8 .7 .5


def test_double_hits_count_once_at_the_highest_score_and_are_not_false_positives():
    scores, is_hit = match_candidates(CANDIDATES, ANNOTATIONS)
    np.testing.assert_allclose(scores, [0.9, np.nan, 0.4])
    assert is_hit.tolist() == [True, True, False, False, True, False, False]


def test_froc_curve_on_a_hand_computed_example():
    result = froc(CANDIDATES, ANNOTATIONS, n_scans=2)
    curve = result.curve.iloc[1:]  # first row is the (threshold=inf, 0, 0) origin
    assert curve["threshold"].tolist() == [0.95, 0.9, 0.8, 0.7, 0.5, 0.4]
    assert curve["fps_per_scan"].tolist() == [0.5, 0.5, 1.0, 1.5, 2.0, 2.0]
    np.testing.assert_allclose(curve["sensitivity"], [0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3])


def test_cpm_on_a_hand_computed_example():
    result = froc(CANDIDATES, ANNOTATIONS, n_scans=2)
    assert result.sensitivities == pytest.approx(
        {0.125: 0, 0.25: 0, 0.5: 1 / 3, 1.0: 1 / 3, 2.0: 2 / 3, 4.0: 2 / 3, 8.0: 2 / 3})
    assert result.cpm == pytest.approx(8 / 21)
    assert (result.n_nodules, result.n_detected, result.n_scans) == (3, 2, 2)


def test_perfect_candidates_give_cpm_one():
    cands = ANNOTATIONS.rename(columns={"seriesuid": "series_uid"}).assign(probability=0.9)
    assert froc(cands, ANNOTATIONS, n_scans=2).cpm == pytest.approx(1.0)
