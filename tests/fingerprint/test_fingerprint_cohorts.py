"""Two cohorts that differ give fingerprints that differ, in the headline numbers and the plots,
as `dvc metrics diff` and `dvc plots diff` show them; and no identifier reaches any part."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import yaml

from pipeline.fingerprint.card import headline, plot_tables
from pipeline.io import write_csv, write_json

REPO = Path(__file__).resolve().parents[2]


def test_headline_numbers_of_two_cohorts_differ(two_cohorts):
    _, fp_a, _, fp_b = two_cohorts
    a, b = headline(fp_a), headline(fp_b)
    assert a["series"] == 3 and b["series"] == 6  # every patient of b has a second series
    assert b["kernels"] > a["kernels"]
    assert a["candidates"] > 0 and b["candidates"] > 0
    assert a["lung_hu_median"] is not None and -1000 < a["lung_hu_median"] < -500
    changed = {k for k in a if a[k] != b[k]}
    assert {"series", "kernels", "nodules"} <= changed


def test_distribution_tables_of_two_cohorts_differ(two_cohorts):
    _, fp_a, _, fp_b = two_cohorts
    ta, tb = plot_tables(fp_a), plot_tables(fp_b)
    assert set(ta) == {"slice_thickness.csv", "pixel_spacing.csv", "lung_hu.csv",
                       "nodule_diameter.csv", "candidates_per_scan.csv"}
    for table in ta.values():
        assert abs(table["fraction"].sum() - 1.0) < 1e-4
    assert not ta["nodule_diameter.csv"].equals(tb["nodule_diameter.csv"])
    assert not ta["lung_hu.csv"].equals(tb["lung_hu.csv"])


def _identifiers(dicom_root: Path) -> set[str]:
    found: set[str] = set()
    for path in dicom_root.rglob("*"):
        if not path.is_file():
            continue
        found.add(path.name)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for kw in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID",
                   "SOPInstanceUID", "FrameOfReferenceUID", "AccessionNumber", "StudyDate",
                   "PatientBirthDate", "InstitutionName"):
            value = str(ds.get(kw, "") or "")
            if len(value) >= 6:
                found.add(value)
            if kw == "PatientName":
                found.update(p for p in value.split("^") if len(p) >= 4)
    return found


def test_no_identifier_of_the_cohort_in_any_fingerprint_part(two_cohorts):
    for root, fp in (two_cohorts[:2], two_cohorts[2:]):
        needles = _identifiers(root / "raw" / "dicom")
        assert len(needles) > 20  # the check looks for something
        text = json.dumps(fp) + "".join(t.to_csv() for t in plot_tables(fp).values())
        assert len(text) < 20_000  # small: KBs
        leaked = sorted(n for n in needles if n.casefold() in text.casefold())
        assert leaked == []


def _git_dvc(project: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run(list(args), cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return proc.stdout


def _write_version(project: Path, fp: dict) -> None:
    write_json(project / "metrics" / "data_fingerprint.json", headline(fp))
    for name, table in plot_tables(fp).items():
        write_csv(project / "plots" / "data" / name, table)


def test_dvc_metrics_and_plots_diff_show_the_difference(two_cohorts, tmp_path):
    _, fp_a, _, fp_b = two_cohorts
    project = tmp_path / "project"
    project.mkdir()
    _git_dvc(project, "git", "init", "-q")
    _git_dvc(project, sys.executable, "-m", "dvc", "init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots", dirs_exist_ok=True)
    plots = [p for p in yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
             if isinstance(p, dict) and any("plots/data/" in f for v in p.values()
                                            for f in v["y"])]
    assert len(plots) == 5
    (project / "dvc.yaml").write_text(yaml.safe_dump(
        {"metrics": ["metrics/data_fingerprint.json"], "plots": plots}, sort_keys=False))
    _write_version(project, fp_a)
    _git_dvc(project, "git", "add", "-A")
    _git_dvc(project, "git", "commit", "-qm", "cohort a")
    _write_version(project, fp_b)
    diff = json.loads(_git_dvc(project, sys.executable, "-m", "dvc", "metrics", "diff",
                               "--json"))["metrics/data_fingerprint.json"]
    assert diff["series"] == {"old": 3, "new": 6, "diff": 3}
    assert diff["kernels"]["new"] > diff["kernels"]["old"]
    shown = json.loads(_git_dvc(project, sys.executable, "-m", "dvc", "plots", "diff", "HEAD",
                                "--json", "--split"))["data"]
    assert set(shown) == {"slice_thickness", "pixel_spacing", "lung_hu", "nodule_diameter",
                          "candidates_per_scan"}
    for name in ("nodule_diameter", "lung_hu"):
        (entry,) = shown[name]
        assert entry["revisions"] == ["workspace", "HEAD"]
        points = entry["anchor_definitions"]["<DVC_METRIC_DATA>"]
        by_rev = {rev: sorted((p[entry_x(name)], p["fraction"]) for p in points
                              if p["rev"] == rev) for rev in ("workspace", "HEAD")}
        assert by_rev["workspace"] and by_rev["HEAD"] and by_rev["workspace"] != by_rev["HEAD"]


def entry_x(name: str) -> str:
    return {"nodule_diameter": "diameter_mm", "lung_hu": "hu"}[name]
