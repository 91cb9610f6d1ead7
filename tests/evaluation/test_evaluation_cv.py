"""Out-of-fold evaluation on compact tables: reading the folds' oof.csv, the patient bootstrap and
the per-fold figures recomposed from per-scan FROC entries, against the direct computation."""

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.evaluation.cv import (
    Cohort,
    bootstrap,
    figures,
    per_fold,
    read_oof,
    score,
    share_columns,
)

OOF_COLUMNS = ["fold", "series_uid", "patient_id", "candidate_id", "coordX", "coordY", "coordZ",
               "label", "probability", "threshold", "prediction"]


def _cohort_and_oof(seed=0):
    """Six patients (one with two scans, one whose scan has no candidate), nodules hit once,
    twice or not at all, an excluded finding, and one scan over the kit's 100-candidate cap."""
    rng = np.random.default_rng(seed)
    scans = pd.DataFrame({"series_uid": [f"1.2.{i}" for i in range(7)],
                          "patient_id": ["P0", "P0", "P1", "P2", "P3", "P4", "P5"]})
    per_scan = {"1.2.0": 6, "1.2.1": 4, "1.2.2": 105, "1.2.3": 5, "1.2.4": 0, "1.2.5": 8,
                "1.2.6": 3}
    fold_of = {"P0": 0, "P1": 1, "P2": 2, "P3": 0, "P4": 1, "P5": 2}
    rows, cid = [], 0
    for uid, patient in zip(scans["series_uid"], scans["patient_id"], strict=True):
        for _ in range(per_scan[uid]):
            rows.append({"fold": fold_of[patient], "series_uid": uid, "patient_id": patient,
                         "candidate_id": str(cid), "coordX": rng.uniform(0, 50),
                         "coordY": rng.uniform(0, 50), "coordZ": rng.uniform(0, 50)})
            cid += 1
    oof = pd.DataFrame(rows)
    annotations = []
    for uid in ("1.2.0", "1.2.2", "1.2.5"):  # nodules at the first candidate of three scans
        first = oof[oof["series_uid"] == uid].iloc[0]
        annotations.append({"seriesuid": uid, "coordX": first["coordX"], "coordY": first["coordY"],
                            "coordZ": first["coordZ"], "diameter_mm": 8.0})
    annotations.append({"seriesuid": "1.2.4", "coordX": 1.0, "coordY": 1.0, "coordZ": 1.0,
                        "diameter_mm": 6.0})  # a nodule of the scan without candidates: missed
    ann = pd.DataFrame(annotations)
    ann["patient_id"] = ann["seriesuid"].map(dict(zip(scans["series_uid"], scans["patient_id"],
                                                      strict=True)))
    second = oof[oof["series_uid"] == "1.2.3"].iloc[1]
    excluded = pd.DataFrame({"seriesuid": ["1.2.3"], "coordX": [second["coordX"]],
                             "coordY": [second["coordY"]], "coordZ": [second["coordZ"]],
                             "diameter_mm": [4.0], "patient_id": ["P2"]})
    near = np.zeros(len(oof), dtype=bool)
    for a in annotations:
        d2 = ((oof[["coordX", "coordY", "coordZ"]].to_numpy() - [a["coordX"], a["coordY"],
                                                                 a["coordZ"]]) ** 2).sum(1)
        same_scan = (oof["series_uid"] == a["seriesuid"]).to_numpy()
        near |= same_scan & (d2 < (a["diameter_mm"] / 2) ** 2)
    oof["label"] = near.astype(int)
    oof["probability"] = np.clip(rng.uniform(0, 0.8, len(oof)) + 0.3 * oof["label"], 0, 1).round(6)
    oof["threshold"] = oof["fold"].map({0: 0.5, 1: 0.45, 2: 0.55})
    oof["prediction"] = (oof["probability"] >= oof["threshold"]).astype(int)
    return Cohort(annotations=ann, excluded=excluded, scans=scans), oof[OOF_COLUMNS]


def _write_folds(tmp_path, oof, name="m"):
    paths = []
    for fold, part in oof.groupby("fold"):
        path = tmp_path / name / f"fold{fold}" / "oof.csv"
        path.parent.mkdir(parents=True)
        part.sample(frac=1.0, random_state=fold).to_csv(path, index=False, float_format="%.6f")
        paths.append(path)
    return paths


def test_read_oof_is_compact_sorted_as_text_and_writes_the_files_rows(tmp_path):
    _, oof = _cohort_and_oof()
    paths = _write_folds(tmp_path, oof)
    got = read_oof(paths, chunk_rows=7)
    assert isinstance(got["series_uid"].dtype, pd.CategoricalDtype)
    assert isinstance(got["patient_id"].dtype, pd.CategoricalDtype)
    assert got["candidate_id"].dtype == np.int64 and got["label"].dtype == np.int8
    plain = pd.concat([pd.read_csv(p, dtype={"series_uid": str, "patient_id": str,
                                             "candidate_id": str}) for p in paths])
    plain = plain.sort_values(["series_uid", "candidate_id"]).reset_index(drop=True)
    assert plain["candidate_id"].iloc[:3].tolist() == ["0", "1", "2"]
    assert "10" < "9" and got.to_csv(index=False, float_format="%.6f") == plain.to_csv(
        index=False, float_format="%.6f")


def test_read_oof_keeps_text_ids_that_are_not_plain_integers(tmp_path):
    _, oof = _cohort_and_oof()
    oof = oof.assign(candidate_id=lambda f: [f"c{i}" if i % 2 else f"00{i}" for i in
                                              range(len(f))])
    paths = _write_folds(tmp_path, oof)
    got = read_oof(paths, chunk_rows=5)
    assert got["candidate_id"].tolist()[:2] == sorted(
        oof.loc[oof["series_uid"] == "1.2.0", "candidate_id"])[:2]
    assert got["candidate_id"].map(type).eq(str).all()


def test_read_oof_rejects_a_patient_in_two_folds_a_double_score_and_an_empty_id(tmp_path):
    _, oof = _cohort_and_oof()
    moved = oof.copy()
    moved.loc[moved.index[0], "fold"] = 1
    with pytest.raises(PipelineError, match="patient P0 is scored by more than one fold"):
        read_oof(_write_folds(tmp_path / "a", moved))
    twice = pd.concat([oof, oof.iloc[[3]]])
    with pytest.raises(PipelineError, match="scored twice"):
        read_oof(_write_folds(tmp_path / "b", twice))
    blank = oof.astype({"series_uid": object})
    blank.loc[blank.index[2], "series_uid"] = None
    with pytest.raises(PipelineError, match="series_uid is empty"):
        read_oof(_write_folds(tmp_path / "c", blank))
    with pytest.raises(PipelineError, match="not found"):
        read_oof([tmp_path / "nowhere" / "oof.csv"])


def _resample(frame, column, by_patient, picks):
    parts = [by_patient[p].assign(**{column: by_patient[p][column].astype(str) + f"#{k}"})
             for p, k in picks if p in by_patient]
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


def _reference_bootstrap(oof, cohort, n, seed):
    """The direct computation: each replicate's rows and scans copied, renamed per draw."""
    patients = sorted(set(cohort.scans["patient_id"]))
    rng = np.random.default_rng(seed)
    groups = {name: {str(k): v for k, v in frame.groupby("patient_id", sort=False)}
              for name, frame in (("oof", oof), ("ann", cohort.annotations),
                                  ("exc", cohort.excluded), ("scans", cohort.scans))}
    out = {}
    for _ in range(n):
        picks = [(patients[i], k) for k, i in
                 enumerate(rng.integers(0, len(patients), size=len(patients)))]
        sub = Cohort(annotations=_resample(cohort.annotations, "seriesuid", groups["ann"], picks),
                     excluded=_resample(cohort.excluded, "seriesuid", groups["exc"], picks),
                     scans=_resample(cohort.scans, "series_uid", groups["scans"], picks))
        drawn = _resample(oof, "series_uid", groups["oof"], picks)
        for key, value in figures(drawn, sub).items():
            out.setdefault(key, []).append(value)
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert len(a[key]) == len(b[key])
        for x, y in zip(a[key], b[key], strict=True):
            assert (math.isnan(x) and math.isnan(y)) or x == y, key


def test_bootstrap_from_scan_entries_equals_resampling_the_tables(tmp_path):
    cohort, oof = _cohort_and_oof()
    compact = read_oof(_write_folds(tmp_path, oof))
    plain = pd.concat([pd.read_csv(p, dtype={"series_uid": str, "patient_id": str,
                                             "candidate_id": str})
                       for p in sorted((tmp_path / "m").glob("fold*/oof.csv"))])
    reps = bootstrap({"m": score(compact, cohort)}, cohort, 25, seed=4)["m"]
    ref = _reference_bootstrap(plain.sort_values(["series_uid", "candidate_id"]), cohort, 25, 4)
    _same(reps, ref)
    assert len(set(reps["cpm"])) > 3  # the draws differ: a check that can fail


def test_per_fold_from_scan_entries_equals_each_folds_own_figures(tmp_path):
    cohort, oof = _cohort_and_oof()
    compact = read_oof(_write_folds(tmp_path, oof))
    rows = per_fold(score(compact, cohort), cohort)
    assert [r["fold"] for r in rows] == [0, 1, 2]
    for r in rows:
        part = oof[oof["fold"] == r["fold"]]
        scans = cohort.scans[cohort.scans["patient_id"].isin(set(part["patient_id"]))]
        expect = figures(part, cohort, scans)
        assert r["candidates"] == len(part) and r["scans"] == len(scans)
        assert r["positives"] == int(part["label"].sum())
        for key, value in expect.items():
            assert r[key] == (None if math.isnan(value) else round(value, 6)), key
    p1 = next(r for r in rows if r["fold"] == 1)
    assert p1["scans"] == 2 and p1["patients"] == 2  # P1 and P4, whose scan has no candidate


def test_share_columns_keeps_the_values_and_shares_the_equal_columns(tmp_path):
    cohort, oof = _cohort_and_oof()
    model = read_oof(_write_folds(tmp_path, oof, "m"))
    other = oof.assign(probability=lambda f: (1 - f["probability"]).round(6))
    baseline = read_oof(_write_folds(tmp_path, other, "b"))
    shared = share_columns(baseline, model)
    pd.testing.assert_frame_equal(shared, baseline)
    assert np.shares_memory(shared["coordX"].to_numpy(), model["coordX"].to_numpy())
    assert not np.shares_memory(shared["probability"].to_numpy(),
                                model["probability"].to_numpy())
    shorter = baseline.iloc[:-1]
    assert share_columns(shorter, model) is shorter  # not row for row: nothing to share
