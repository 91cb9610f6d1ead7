"""Sub-3 mm findings: rendered, listed in annotations_excluded.csv (not annotations.csv), some
with a class-0 candidate, and drawn from their own random stream."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from synth_helpers import TINY_Z_EXTENT_MM, tiny_params

from pipeline.evaluation.froc import froc
from pipeline.io import read_csv
from pipeline.synth import cohort
from pipeline.synth.cohort import SMALL_FINDING_KIND, generate_patient, plan_cohort
from pipeline.synth.render import render_anatomy

XYZ = ["coordX", "coordY", "coordZ"]


def test_small_findings_go_to_annotations_excluded_and_not_annotations(tiny_cohort):
    out, result = tiny_cohort
    ann = read_csv(out / "annotations.csv")
    excl = read_csv(out / "annotations_excluded.csv")
    assert list(excl.columns) == list(ann.columns)
    assert len(excl) == result.metrics["annotations_excluded"] > 0
    assert (excl["diameter_mm"] < 3.0).all() and (ann["diameter_mm"] >= 3.0).all()
    for row in excl.itertuples():
        same = ann[ann.seriesuid == row.seriesuid]
        gap = np.linalg.norm(same[XYZ].to_numpy() - [row.coordX, row.coordY, row.coordZ], axis=1)
        assert (gap > same["diameter_mm"].to_numpy() / 2 + row.diameter_mm / 2).all()


def test_small_findings_are_rendered_like_tiny_nodules(tiny_cohort):
    _, result = tiny_cohort
    checked = 0
    for patient in result.patients:
        an = patient.anatomy
        for f in an.small_findings:
            c = np.asarray(f.center_mm)
            axes = [c[k] + np.arange(-6.0, 6.01, 0.5) for k in range(3)]
            with_f = render_anatomy(an, *axes, edge_mm=0.5)
            without = render_anatomy(dataclasses.replace(an, small_findings=()), *axes,
                                     edge_mm=0.5)
            diff = with_f - without
            assert diff[12, 12, 12] > 300  # the centre: soft tissue instead of lung
            zz, yy, xx = np.meshgrid(*[a - c[k] for k, a in zip((2, 1, 0), axes[::-1],
                                                                  strict=True)], indexing="ij")
            far = np.sqrt(xx**2 + yy**2 + zz**2) > f.diameter_mm / 2 + 1.0
            assert np.abs(diff[far]).max() == 0
            series = patient.series[0]
            v = tuple(np.rint(series.geometry.world_to_voxel(f.center_mm)).astype(int))
            assert series.volume_hu[v] > an.lung_hu + 100
            checked += 1
    assert checked >= 1


def test_candidates_on_small_findings_are_class_0_and_ignored_by_the_froc(tiny_cohort):
    out, result = tiny_cohort
    on_small = result.candidates[result.candidates["kind"] == SMALL_FINDING_KIND]
    assert len(on_small) > 0 and (on_small["class"] == 0).all()
    excl = read_csv(out / "annotations_excluded.csv")
    cand = read_csv(out / "candidates.csv")
    scored = cand.assign(probability=np.where(cand["class"] == 1, 0.9, 0.1))
    scored.loc[(result.candidates["kind"] == SMALL_FINDING_KIND).to_numpy(), "probability"] = 0.95
    ann = read_csv(out / "annotations.csv")
    scans = sorted(set(ann.seriesuid) | set(cand.seriesuid))
    with_excl = froc(scored, ann, excluded=excl, scan_ids=scans)
    without = froc(scored, ann, scan_ids=scans)
    assert with_excl.n_ignored == len(on_small)
    assert without.n_false_positives == with_excl.n_false_positives + len(on_small)
    assert with_excl.cpm == 1.0 > without.cpm


def test_small_findings_leave_nodules_candidates_and_far_voxels_unchanged(tmp_path, monkeypatch):
    params = tiny_params(n_patients=1)
    plan = plan_cohort(params, tmp_path / "a", rows=64, z_extent_mm=TINY_Z_EXTENT_MM,
                       keep_volumes=True)[0]
    with_small = generate_patient(plan)
    monkeypatch.setattr(cohort, "SMALL_FINDINGS_PER_PATIENT", (0, 0))
    plain = generate_patient(dataclasses.replace(plan, dicom_root=str(tmp_path / "b")))
    assert len(with_small.anatomy.small_findings) > 0 and not plain.anatomy.small_findings
    assert with_small.anatomy.nodules == plain.anatomy.nodules
    kept = [c for c in with_small.candidates if c.kind != SMALL_FINDING_KIND]
    assert kept == list(plain.candidates)
    series, base = with_small.series[0], plain.series[0]
    world = series.geometry.voxel_to_world(np.argwhere(np.ones(series.volume_hu.shape, bool)))
    near = np.zeros(len(world), bool)
    for f in with_small.anatomy.small_findings:
        near |= np.linalg.norm(world - f.center_mm, axis=1) < f.diameter_mm / 2 + 8.0
    changed = (series.volume_hu != base.volume_hu).ravel()
    assert changed.any() and not (changed & ~near).any()
    assert pd.Index(series.files).equals(pd.Index(base.files))
