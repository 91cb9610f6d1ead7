"""FROC/CPM against the LUNA16 kit's rules, one edge case per test.

"The kit printed" means: these tables were written as LUNA16 CSVs and run through the official
``noduleCADEvaluationLUNA16.py`` (Python 3 port of print/iteritems only, scikit-learn 1.9.1), and
the expected values are its curve and ``np.interp`` of that curve at the seven rates.
"""

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.evaluation.froc import (
    bootstrap_sensitivities,
    cap_marks,
    cpm_bootstrap_ci,
    froc,
    hit_matrix,
    kit_percentiles,
    match_candidates,
    squared_radius,
)

RATES = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


def ann(*rows):
    return pd.DataFrame(rows, columns=["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"])


def cands(*rows):
    return pd.DataFrame(rows, columns=["seriesuid", "coordX", "coordY", "coordZ", "probability"])


def sens_list(result):
    return [result.sensitivities[r] for r in RATES]


def test_candidate_exactly_on_the_radius_is_not_a_hit():
    """The kit printed sens [0,0,0,0,1,1,1], CPM 0.42857142857142855, 2 FPs."""
    result = froc(cands(("S1", 5, 0, 0, 0.9), ("S1", 3, 4, 0, 0.8), ("S1", 0, 0, 4.999, 0.3)),
                  ann(("S1", 0, 0, 0, 10.0)), scan_ids=["S1"])
    assert result.n_false_positives == 2 and result.n_detected == 1
    assert result.curve["fps_per_scan"].tolist() == [0.0, 1.0, 2.0, 2.0]
    assert sens_list(result) == [0, 0, 0, 0, 1, 1, 1]
    assert result.cpm == 0.42857142857142855


def test_boundary_uses_the_kits_pow_not_numpy_squares():
    """The kit counts this candidate a hit (printed sens@1 = 1, CPM 0.5714285714285714): its sum of
    C ``pow(d, 2)`` is below ``pow(r, 2)`` where correctly rounded squares are not (glibc)."""
    dx, dy, dz, diameter = 1.512, -4.536, 3.906, 12.348
    kit_hit = (math.pow(dx, 2.0) + math.pow(dy, 2.0)) + math.pow(dz, 2.0) < squared_radius(diameter)
    ours = hit_matrix(np.zeros((1, 3)), np.array([squared_radius(diameter)]),
                      np.array([[-dx, -dy, -dz]]))
    assert bool(ours[0, 0]) == kit_hit
    result = froc(cands(("S1", -dx, -dy, -dz, 0.8), ("S1", 40, 0, 0, 0.9)),
                  ann(("S1", 0, 0, 0, diameter)), scan_ids=["S1"])
    assert result.n_detected == int(kit_hit)


def test_score_tie_between_a_nodule_and_false_positives_is_one_diagonal_step():
    """The kit printed fps [0, 0.5, 1.5], sens [0, 0, 1]; np.interp gives 0.5 at 1 FP/scan (a step
    function would give 0); CPM 0.5."""
    result = froc(cands(("S1", 40, 0, 0, 0.9), ("S1", 1, 1, 1, 0.5), ("S1", -40, 0, 0, 0.5),
                        ("S2", 0, 0, 0, 0.5)),
                  ann(("S1", 0, 0, 0, 10.0)), scan_ids=["S1", "S2"])
    assert result.curve["fps_per_scan"].tolist() == [0.0, 0.5, 1.5]
    assert result.curve["sensitivity"].tolist() == [0.0, 0.0, 1.0]
    assert sens_list(result) == [0, 0, 0, 0.5, 1, 1, 1]
    assert result.cpm == 0.5


def test_candidates_on_excluded_findings_are_ignored_with_the_kits_radius():
    """The kit printed 2 ignored, 2 FPs, CPM 0.42857142857142855. Excluded: d=2 at x=30 (30.5 in,
    31 on the radius: FP), d=-1 (10 mm) at x=-30 (-26 in, -25 on the radius: FP), and d=4 at x=3
    overlapping the nodule (its candidate at x=2 is the nodule's hit, not ignored)."""
    candidates = cands(("S1", 30.5, 0, 0, 0.9), ("S1", 31, 0, 0, 0.8), ("S1", -26, 0, 0, 0.7),
                       ("S1", -25, 0, 0, 0.6), ("S1", 2, 0, 0, 0.4))
    nodules = ann(("S1", 0, 0, 0, 10.0))
    excluded = ann(("S1", 30, 0, 0, 2.0), ("S1", -30, 0, 0, -1.0), ("S1", 3, 0, 0, 4.0))
    result = froc(candidates, nodules, excluded=excluded, scan_ids=["S1"])
    assert (result.n_ignored, result.n_false_positives, result.n_detected) == (2, 2, 1)
    assert result.curve["threshold"].tolist()[1:] == [0.8, 0.6, 0.4]
    assert result.cpm == 0.42857142857142855
    m = match_candidates(candidates, nodules, excluded)
    assert m.is_ignored.tolist() == [True, False, True, False, False]
    assert m.is_hit.tolist() == [False, False, False, False, True]
    without = froc(candidates, nodules, scan_ids=["S1"])
    assert (without.n_ignored, without.n_false_positives) == (0, 4)


def test_negative_diameter_means_ten_millimetres():
    """The kit printed: 4.9 mm away is a hit, 5 mm is an FP; CPM 0.5714285714285714."""
    assert squared_radius(-1.0) == 25.0
    result = froc(cands(("S1", 5, 0, 0, 0.9), ("S1", 0, 4.9, 0, 0.3)),
                  ann(("S1", 0, 0, 0, -1.0)), scan_ids=["S1"])
    assert (result.n_detected, result.n_false_positives) == (1, 1)
    assert result.cpm == 0.5714285714285714


def test_more_than_100_candidates_keeps_those_above_the_101st_score():
    """The kit printed 99 FPs, 1 of 2 nodules, sens 0.5 at every rate: of 102 candidates it keeps
    those strictly above the 101st highest score (0.6), so the FP at 0.6 and the nodule hit at 0.5
    are dropped."""
    fps = [("S1", 100 + i, 0, 0, round(0.6 + i * 0.003, 3)) for i in range(100)]
    result = froc(cands(*fps, ("S1", 0, 0, 0, 0.99), ("S1", 30, 0, 0, 0.5)),
                  ann(("S1", 0, 0, 0, 10.0), ("S1", 30, 0, 0, 10.0)), scan_ids=["S1"])
    assert (result.n_dropped, result.n_false_positives, result.n_detected) == (2, 99, 1)
    assert result.curve["fps_per_scan"].tolist() == [0.0, 0.0, 99.0]
    assert sens_list(result) == [0.5] * 7


def test_cap_drops_every_candidate_tied_at_the_101st_score():
    scores = np.array([0.9] * 98 + [0.3, 0.3, 0.3] + [0.95])
    keep = cap_marks(scores)
    assert keep.sum() == 99 and not keep[98:101].any()
    assert cap_marks(np.full(101, 0.5)).sum() == 0
    assert cap_marks(np.full(100, 0.5)).all()


def test_listed_scan_without_candidates_counts_in_fps_per_scan():
    """The kit printed fps [0, 0, 0.6666666666666666] over 3 listed scans (2 without candidates)."""
    candidates = cands(("S1", 0, 0, 0, 0.9), ("S1", 50, 0, 0, 0.8), ("S1", -50, 0, 0, 0.7))
    nodules = ann(("S1", 0, 0, 0, 10.0))
    result = froc(candidates, nodules, scan_ids=["S1", "S2", "S3"])
    assert result.n_scans == 3
    assert result.curve["fps_per_scan"].tolist() == [0.0, 0.0, 0.6666666666666666]
    assert froc(candidates, nodules, n_scans=3).curve.equals(result.curve)
    assert froc(candidates, nodules, scan_ids=["S1"]).curve["fps_per_scan"].max() == 2.0


def test_fps_per_scan_are_computed_in_floating_point_like_the_kit():
    """25 FPs over 7 scans, the nodule just after the 7th: the kit's fpr * 25 / 7 gives
    1.0000000000000002 for 7 FPs, so its np.interp at 1 FP/scan lands before the nodule: the kit
    printed sens@1 = 0 and CPM 0.42857142857142855 (exact 7/7 would give 1 and 0.571)."""
    fps = [(f"S{1 + i % 7}", 100 + i, 0, 0, round(0.99 - i * 0.01, 2)) for i in range(25)]
    result = froc(cands(*fps, ("S1", 0, 0, 0, 0.925)), ann(("S1", 0, 0, 0, 10.0)),
                  scan_ids=[f"S{k}" for k in range(1, 8)])
    assert result.curve["fps_per_scan"].tolist() == [
        0.0, 0.14285714285714285, 1.0000000000000002, 1.0000000000000002, 3.5714285714285716]
    assert sens_list(result) == [0, 0, 0, 0, 1, 1, 1]
    assert result.cpm == 0.42857142857142855


def test_nodule_hit_twice_and_candidate_hitting_two_nodules():
    """The kit printed 3 TPs, 1 FP, 1 double detection ignored, CPM 0.8571428571428571: the
    candidate at x=3 is inside both overlapping nodules and detects both at 0.9; the second hit on
    the first nodule (0.4) is neither a TP entry nor an FP."""
    candidates = cands(("S1", 3, 0, 0, 0.9), ("S1", -1, 0, 0, 0.4), ("S1", 50, 1, 0, 0.2),
                       ("S1", 100, 0, 0, 0.6))
    nodules = ann(("S1", 0, 0, 0, 10.0), ("S1", 6, 0, 0, 10.0), ("S1", 50, 0, 0, 4.0))
    result = froc(candidates, nodules, scan_ids=["S1"])
    m = match_candidates(candidates, nodules)
    assert m.nodule_scores.tolist() == [0.9, 0.9, 0.2]
    assert m.is_hit.tolist() == [True, True, True, False]
    assert (result.n_detected, result.n_false_positives, result.n_double_hits) == (3, 1, 1)
    assert sens_list(result) == pytest.approx([2 / 3] * 3 + [1] * 4, abs=0)
    assert result.cpm == 0.8571428571428571


# Two scans. A (S1, d=10 -> r=5), B (S1, d=4 -> r=2), C (S2, d=6 -> r=3).
EX_ANN = ann(("S1", 0.0, 0.0, 0.0, 10.0), ("S1", 50.0, 0.0, 0.0, 4.0), ("S2", 0.0, 0.0, 0.0, 6.0))
EX_CANDS = pd.DataFrame({  # the evaluate stage's column name
    "series_uid": ["S1", "S1", "S1", "S1", "S2", "S2", "S2"],
    "coordX": [1.0, 0.0, 53.0, 20.0, 0.0, 10.0, 50.0],
    "coordY": [0.0, 2.0, 0.0, 0.0, 0.0, 10.0, 0.0],
    "coordZ": [0.0, 0.0, 0.0, 0.0, 2.0, 10.0, 0.0],
    "probability": [0.9, 0.6, 0.8, 0.7, 0.4, 0.95, 0.5]})


def test_sensitivity_at_each_rate_and_cpm_on_a_two_scan_example():
    """The kit printed fps [0, .5, .5, 2, 2], sens [0, 0, 1/3, 1/3, 2/3], sensitivities
    [0, 0, 1/3, 1/3, 2/3, 2/3, 2/3] and CPM 0.38095238095238093 (8/21)."""
    result = froc(EX_CANDS, EX_ANN, 2)
    assert result.curve["threshold"].tolist() == [np.inf, 0.95, 0.9, 0.5, 0.4]
    assert result.curve["fps_per_scan"].tolist() == [0.0, 0.5, 0.5, 2.0, 2.0]
    assert sens_list(result) == [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3]
    assert result.cpm == 0.38095238095238093
    assert (result.n_nodules, result.n_detected, result.n_scans) == (3, 2, 2)


def test_rows_of_unlisted_scans_are_ignored():
    extra_c = pd.concat([EX_CANDS, pd.DataFrame({"series_uid": ["S9"], "coordX": [0.0],
                                                 "coordY": [0.0], "coordZ": [0.0],
                                                 "probability": [0.99]})])
    extra_a = pd.concat([EX_ANN, ann(("S9", 9.0, 9.0, 9.0, 10.0))])
    listed = froc(extra_c, extra_a, scan_ids=["S1", "S2"])
    assert listed.cpm == froc(EX_CANDS, EX_ANN, 2).cpm and listed.n_nodules == 3


def test_perfect_candidates_give_cpm_one():
    perfect = EX_ANN.rename(columns={"seriesuid": "series_uid"}).assign(probability=0.9)
    assert froc(perfect, EX_ANN, n_scans=2).cpm == 1.0


def test_nothing_detected_gives_zero_and_no_nodule_gives_nan():
    missed = froc(cands(("S1", 90, 0, 0, 0.5)), EX_ANN, scan_ids=["S1", "S2"])
    assert missed.cpm == 0.0 and missed.n_false_positives == 1
    assert froc(cands(), EX_ANN, scan_ids=["S1", "S2"]).cpm == 0.0
    assert math.isnan(froc(cands(("S1", 90, 0, 0, 0.5)), ann(), scan_ids=["S1"]).cpm)


def test_bad_tables_are_named_errors():
    with pytest.raises(PipelineError, match="probability"):
        froc(EX_CANDS.drop(columns="probability"), EX_ANN, 2)
    with pytest.raises(PipelineError, match="more than once"):
        froc(EX_CANDS, EX_ANN, scan_ids=["S1", "S1"])
    with pytest.raises(PipelineError, match="n_scans=1"):
        froc(EX_CANDS, EX_ANN, 1)
    with pytest.raises(PipelineError, match="finite"):
        froc(EX_CANDS.assign(coordX=np.nan), EX_ANN, 2)


BOOT_RESULTS = (  # six scans, nodules at x=0 (d=10) and x=40 (d=6); y=9 misses, x<=-50 are FPs
    "S1,0,0,0,0.76 S1,40,0,0,0.48 S1,-50,0,0,0.61 S1,-51,0,0,0.81 S1,-52,0,0,0.75 "
    "S1,-53,0,0,0.09 S2,0,0,0,0.61 S2,40,9,0,0.71 S2,-50,0,0,0.25 S3,0,0,1,0.7 S3,40,9,0,0.51 "
    "S3,-50,0,0,0.3 S4,0,0,0,0.67 S4,40,9,0,0.95 S5,0,0,0,0.21 S5,40,0,0,0.39 S6,0,0,1,0.61 "
    "S6,40,9,0,0.92 S6,-50,0,0,0.51 S6,-51,0,0,0.94 S6,-52,0,0,0.74")
BOOT_SCANS = [f"S{s}" for s in range(1, 7)]


def _bootstrap_case():
    rows = [r.split(",") for r in BOOT_RESULTS.split()]
    c = cands(*[(u, float(x), float(y), float(z), float(p)) for u, x, y, z, p in rows])
    a = ann(*[r for s in BOOT_SCANS for r in ((s, 0.0, 0.0, 0.0, 10.0), (s, 40.0, 0.0, 0.0, 6.0))])
    return c, a


def test_bootstrap_resamples_scans_like_the_kit():
    """Run through the kit with ``np.random.seed(7)`` and 1000 samples, the kit's bootstrap CSV
    at 0.125 and 8 FPs/scan gives mean/lower/upper [0.000166..., 0.66733336], [0, 0.5],
    [0, 0.8333333]; its main curve gave CPM 0.29761904761904756."""
    c, a = _bootstrap_case()
    result = froc(c, a, scan_ids=BOOT_SCANS)
    assert result.cpm == 0.29761904761904756
    sens = bootstrap_sensitivities(result, 1000, 7, (0.125, 8.0)).astype(np.float32)
    lows_highs = [kit_percentiles(sens[:, i]) for i in range(2)]
    assert lows_highs[0] == (0.0, 0.0)
    assert lows_highs[1] == pytest.approx((0.5, 0.8333333134651184), abs=1e-7)
    assert sens.mean(axis=0) == pytest.approx([0.00016666666488163173, 0.6673333644866943],
                                              abs=1e-6)


def test_cpm_bootstrap_ci_is_seeded_and_brackets_the_point():
    c, a = _bootstrap_case()
    result = froc(c, a, scan_ids=BOOT_SCANS)
    ci = cpm_bootstrap_ci(result, 200, seed=1)
    assert ci == cpm_bootstrap_ci(result, 200, seed=1)
    assert ci.low <= result.cpm <= ci.high and ci.low < ci.high
    assert (ci.n_resamples, ci.n_used, ci.seed) == (200, 200, 1)


def test_cpm_bootstrap_of_identical_scans_collapses_to_the_point():
    rows = [r for s in ("A", "B", "C") for r in ((s, 0, 0, 0, 0.9), (s, 50, 0, 0, 0.5))]
    result = froc(cands(*rows), ann(*[(s, 0, 0, 0, 10.0) for s in ("A", "B", "C")]), 3)
    ci = cpm_bootstrap_ci(result, 50, seed=0)
    assert ci.low == ci.high == result.cpm == 1.0


def test_kit_percentile_indices():
    vals = np.arange(1000, dtype=float)[::-1]
    assert kit_percentiles(vals) == (25.0, 975.0)
