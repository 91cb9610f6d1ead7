"""Two tiny synthetic cohorts that differ (seed, kernel mix) and their fingerprints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.data.patches import build_patches
from pipeline.data.patches_params import PatchesParams
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import ingest_metrics, scan_folder
from pipeline.fingerprint.acquisition import acquisition_facts, ingest_fingerprint
from pipeline.fingerprint.findings import patches_fingerprint
from pipeline.fingerprint.volumes import resample_fingerprint
from pipeline.imaging.params import ResampleParams
from pipeline.imaging.resample_cohort import resample_cohort, write_resample_tables
from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import synthesize_cohort
from pipeline.synth.params import SynthesizeParams

EXECUTOR = ExecutorParams(jobs=1)
INGEST = IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                      allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)
RESAMPLE = ResampleParams(spacing_mm=2.0, interpolator="linear", hu_range=(-1024.0, 3071.0),
                          anti_alias=True, lung_mask=True, jobs=1)


def cohort_params(seed: int, second_series_fraction: float) -> SynthesizeParams:
    return SynthesizeParams(
        seed=seed, profile="tiny", n_patients=3, nodules_per_patient=(1, 2),
        nodule_diameter_mm=(5.0, 14.0), negatives_per_nodule=3.0, hard_negative_fraction=0.5,
        rle_fraction=0.0, implicit_vr_fraction=0.0, feet_first_fraction=0.0, prone_fraction=0.0,
        split_study_fraction=0.0, second_series_fraction=second_series_fraction, jobs=1)


def build_fingerprint(root: Path, params: SynthesizeParams) -> dict:
    """Synthesize under ``root/raw`` and run ingest -> resample -> patches' fingerprint code."""
    raw = root / "raw"
    synthesize_cohort(raw, params, EXECUTOR, z_extent_mm=24.0)
    scan = scan_folder(raw / "dicom", INGEST, EXECUTOR)
    ingest = ingest_fingerprint(acquisition_facts(scan.series, raw / "dicom"),
                                ingest_metrics(scan))
    volumes = root / "volumes"
    report = resample_cohort(raw / "dicom", volumes, RESAMPLE, EXECUTOR,
                             scan=lambda f: (scan.series, scan.rejected))
    write_resample_tables(volumes, report, RESAMPLE)
    resample = resample_fingerprint(volumes, EXECUTOR)
    result = build_patches(volumes, raw, root / "patches",
                           PatchesParams(cube_mm=16.0, merge_distance_mm=0.0, jobs=1), EXECUTOR)
    geometry = pd.read_csv(volumes / "geometry.csv", dtype={"series_uid": str})
    patches = patches_fingerprint(result.index, result.annotations, result.rejected,
                                  list(geometry["series_uid"]))
    return {"ingest": ingest, "resample": resample, "patches": patches}
