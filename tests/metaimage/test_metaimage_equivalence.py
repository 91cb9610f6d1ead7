"""The synthetic cohort as DICOM and as MetaImage gives the same volumes, patches and metrics.

The tiny cohort runs ingest -> anonymize -> resample -> patches as DICOM; its anonymized volumes,
written as MetaImage (``subsetN/<anonymized seriesuid>.mhd``) with the anonymized tables, run
ingest (MetaImage) -> anonymize (skipped) -> resample -> patches. Only ``patient_id`` may differ:
a MetaImage cohort has no patient IDs, so each scan is its own patient (the cohort has one series
per patient, so the two labellings are one-to-one).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from metaimage_helpers import load_stage, write_params

from pipeline.config import load_section
from pipeline.imaging.resample import read_series_hu
from pipeline.io import read_csv, read_json
from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import synthesize_cohort
from pipeline.synth.params import SynthesizeParams

TABLES = ("annotations", "candidates", "annotations_excluded")


def _run_pipeline(raw: Path, tables: Path, out: Path, params: Path) -> None:
    stage = {n: load_stage(n) for n in ("ingest", "anonymize", "resample", "patches")}
    assert stage["ingest"].main(["--input", str(raw), "--output", str(out / "ingest"),
                                 "--metrics", str(out / "ingest.json"),
                                 "--params", str(params)]) == 0
    assert stage["anonymize"].main([
        "--input", str(raw), "--series-table", str(out / "ingest" / "series.csv"),
        *[a for n in TABLES for a in (f"--{n.replace('_', '-')}", str(tables / f"{n}.csv"))],
        "--output", str(out / "anonymized"), "--metrics", str(out / "anonymize.json"),
        "--params", str(params)]) == 0
    assert stage["resample"].main(["--input", str(out / "anonymized"), "--output",
                                   str(out / "volumes"), "--raw-root", str(raw),
                                   "--params", str(params)]) == 0
    assert stage["patches"].main(["--volumes", str(out / "volumes"), "--tables",
                                  str(out / "anonymized"), "--output", str(out / "patches"),
                                  "--metrics", str(out / "data.json"),
                                  "--params", str(params)]) == 0


def _write_metaimage_cohort(anonymized: Path, root: Path) -> None:
    """Every anonymized DICOM series as ``root/subset<k % 2>/<uid>.mhd`` (int16 HU, LUNA16)."""
    series = read_csv(anonymized / "series.csv")
    for k, row in enumerate(series.itertuples(index=False)):
        image = read_series_hu([anonymized / f for f in row.files.split("|")])
        values = sitk.GetArrayViewFromImage(image)
        assert np.array_equal(values, np.rint(values))  # integer HU: int16 loses nothing
        path = root / f"subset{k % 2}" / f"{row.series_uid}.mhd"
        path.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(sitk.Cast(image, sitk.sitkInt16), str(path))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(DICOM run, MetaImage run) output folders of the same tiny cohort."""
    tmp = tmp_path_factory.mktemp("equivalence")
    params = write_params(tmp / "params.yaml", synthesize={
        "profile": "tiny", "n_patients": 3, "nodules_per_patient": [1, 2],
        "nodule_diameter_mm": [8.0, 16.0], "negatives_per_nodule": 3.0,
        "second_series_fraction": 0.0, "feet_first_fraction": 0.5, "prone_fraction": 0.5})
    synthesize_cohort(tmp / "synthetic", load_section(params, "synthesize", SynthesizeParams),
                      ExecutorParams(jobs=1))
    dicom = tmp / "dicom_run"
    _run_pipeline(tmp / "synthetic" / "dicom", tmp / "synthetic", dicom, params)
    luna, tables = tmp / "luna16", tmp / "luna16_tables"
    _write_metaimage_cohort(dicom / "anonymized", luna)
    tables.mkdir()
    for name in TABLES:
        shutil.copy(dicom / "anonymized" / f"{name}.csv", tables / f"{name}.csv")
    meta = tmp / "metaimage_run"
    _run_pipeline(luna, tables, meta, params)
    return dicom, meta


def _patient_map(dicom: Path) -> dict[str, str]:
    """DICOM pseudonymous patient -> its one series UID (the MetaImage run's patient_id)."""
    geometry = read_csv(dicom / "volumes" / "geometry.csv")
    assert geometry["patient_id"].is_unique  # one series per patient
    return dict(zip(geometry["patient_id"], geometry["series_uid"], strict=True))


def test_anonymize_is_skipped_for_the_metaimage_cohort(both):
    dicom, meta = both
    report = read_json(meta / "anonymize.json")
    assert report["skipped"] is True and "de-identified" in report["reason"]
    assert report["series"] == len(read_csv(dicom / "anonymized" / "series.csv"))
    assert not list((meta / "anonymized").rglob("*.dcm"))
    assert read_json(meta / "ingest.json")["volumes_per_subset"] == {"0": 2, "1": 1}


def test_volumes_have_identical_arrays_and_geometry(both):
    dicom, meta = both
    a = read_csv(dicom / "volumes" / "geometry.csv")
    b = read_csv(meta / "volumes" / "geometry.csv")
    pd.testing.assert_frame_equal(a.drop(columns="patient_id"), b.drop(columns="patient_id"))
    assert len(a) == 3 and a["direction"].nunique() > 1  # prone / feet-first flips present
    for name in [*a["file"], *a["lung_file"]]:
        x = sitk.ReadImage(str(dicom / "volumes" / name))
        y = sitk.ReadImage(str(meta / "volumes" / name))
        assert np.array_equal(sitk.GetArrayViewFromImage(x), sitk.GetArrayViewFromImage(y))
        assert x.GetSpacing() == y.GetSpacing() and x.GetOrigin() == y.GetOrigin()
        assert x.GetDirection() == y.GetDirection()


def test_patches_have_identical_cubes_and_index(both):
    dicom, meta = both
    assert (dicom / "patches" / "cubes.npy").read_bytes() == \
        (meta / "patches" / "cubes.npy").read_bytes()
    patient = _patient_map(dicom)
    for name in ("index.csv", "annotations.csv"):
        a = read_csv(dicom / "patches" / name, keep_default_na=False)
        b = read_csv(meta / "patches" / name, keep_default_na=False)
        a["patient_id"] = a["patient_id"].map(patient)
        pd.testing.assert_frame_equal(a, b)
    for name in ("annotations_excluded.csv", "rejected.csv", "preprocess.json"):
        assert (dicom / "patches" / name).read_bytes() == (meta / "patches" / name).read_bytes()
    assert len(read_csv(meta / "patches" / "index.csv")) > 0


def test_data_metrics_are_identical(both):
    dicom, meta = both
    assert (dicom / "data.json").read_bytes() == (meta / "data.json").read_bytes()
