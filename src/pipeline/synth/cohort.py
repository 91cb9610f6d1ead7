"""The synthetic cohort: plan patients, render and write each as a PACS export, build the tables.

One ``PatientPlan`` per patient is drawn up front from the cohort seed (identity, orientation,
transfer syntax, folder split), then ``generate_patient`` renders and writes that patient's series
in a worker with its own generator (``SeedSequence(seed).spawn``), so results never depend on
``jobs`` or the executor. Outputs follow docs/data-contracts.md (``synthesize``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from pipeline.imaging.geometry import Geometry, direction_from_dicom
from pipeline.io import atomic_dir
from pipeline.parallel import ExecutorParams, map_items
from pipeline.synth.chest import Anatomy, sample_anatomy
from pipeline.synth.dicom_writer import (
    RESCALE_INTERCEPT,
    PatientIdentity,
    SeriesUIDs,
    build_slice_dataset,
    restamp_slice,
    save_dataset,
    stored_values,
)
from pipeline.synth.identity import ascii_fold, make_identity, make_patient_ids
from pipeline.synth.marker import write_marker
from pipeline.synth.params import SynthesizeParams
from pipeline.synth.placement import (
    placement_grid,
    sample_candidates,
    sample_nodules,
    sample_small_findings,
)
from pipeline.synth.profiles import ORIENTATIONS, VENDORS, Kernel, ScannerProfile, get_profile
from pipeline.synth.render import Grid, render_chunks
from pipeline.synth.shapes import Candidate, Nodule, vec3
from pipeline.tables import LUNA_ANNOTATIONS, LUNA_CANDIDATES, LUNA_EXCLUDED

log = logging.getLogger(__name__)

ANNOTATION_COLUMNS = list(LUNA_ANNOTATIONS.names)
CANDIDATE_COLUMNS = list(LUNA_CANDIDATES.names)
CSV_FLOAT_FORMAT = "%.6f"
#: synthesize's LUNA16 tables: LUNA16's columns, floats written with 6 decimals
SYNTH_ANNOTATIONS = replace(LUNA_ANNOTATIONS, stage="synthesize", float_format=CSV_FLOAT_FORMAT)
SYNTH_EXCLUDED = replace(LUNA_EXCLUDED, stage="synthesize", float_format=CSV_FLOAT_FORMAT)
SYNTH_CANDIDATES = replace(LUNA_CANDIDATES, stage="synthesize", float_format=CSV_FLOAT_FORMAT)
SPLIT_PART_PROBABILITY = 0.45
HU_OFFSET = int(RESCALE_INTERCEPT)  # stored value + HU_OFFSET = HU (slope 1)
FILE_NAME_STYLES = ("IM{num:06d}", "{hash}.dcm", "{num:08d}")
# Sub-3 mm findings (LUNA16's annotations_excluded.csv): 0-2 per patient from their own random
# stream, so every nodule, negative and noise draw is the same as without them.
SMALL_FINDINGS_PER_PATIENT = (0, 2)
SMALL_FINDING_DIAMETER_MM = (1.5, 2.9)
SMALL_FINDING_CANDIDATE_PROBABILITY = 0.75  # a CAD mark on it (class 0), as LUNA16's candidates
SMALL_FINDING_KIND = "small_finding"


def deterministic_uid(*parts: object) -> str:
    """A ``2.25.<128-bit int>`` UID derived from ``parts`` (PS3.5 B.2, ISO/IEC 9834-8)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"


@dataclass(frozen=True)
class PatientPlan:
    """Everything decided at cohort level for one patient; the rest is drawn in the worker."""

    index: int
    seed: int
    profile: ScannerProfile
    identity: PatientIdentity
    vendor_index: int
    patient_position: str
    transfer_syntax: str
    split_study: bool
    second_series: bool
    nodules_per_patient: tuple[int, int]
    nodule_diameter_mm: tuple[float, float]
    negatives_per_nodule: float
    hard_negative_fraction: float
    dicom_root: str
    rows_override: int | None = None
    z_extent_override_mm: float | None = None
    keep_volumes: bool = False  # return each series' HU array (tests)


@dataclass(frozen=True)
class SeriesRecord:
    """One written series: its UID, scan grid, written geometry and files (relative paths)."""

    patient_index: int
    series_uid: str
    series_number: int
    grid: Grid
    geometry: Geometry
    patient_position: str
    transfer_syntax: str
    kernel: str
    files: tuple[str, ...]
    bytes_on_disk: int
    volume_hu: np.ndarray | None = None  # (z, y, x) int16 in written order, with keep_volumes


@dataclass(frozen=True)
class Preview:
    """An axial and a coronal slice (HU, LPS display order) through a patient's largest nodule."""

    patient_index: int
    axial_hu: np.ndarray  # (y, x)
    coronal_hu: np.ndarray  # (z, x)
    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    nodule: Nodule
    nodules: tuple[Nodule, ...]


@dataclass(frozen=True)
class PatientResult:
    index: int
    anatomy: Anatomy
    series: tuple[SeriesRecord, ...]
    candidates: tuple[Candidate, ...]
    preview: Preview | None


@dataclass
class CohortResult:
    """What ``synthesize_cohort`` wrote, as tables and per-patient detail (for tests, metrics)."""

    patients: list[PatientResult]
    annotations: pd.DataFrame
    candidates: pd.DataFrame  # LUNA16 columns + ``kind``
    metrics: dict = field(default_factory=dict)
    excluded: pd.DataFrame = field(  # annotations_excluded.csv: the sub-3 mm findings
        default_factory=lambda: pd.DataFrame(columns=ANNOTATION_COLUMNS))


def _assign(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """A boolean per patient, exactly ``round(fraction * n)`` of them true, at random places."""
    flags = np.zeros(n, dtype=bool)
    flags[rng.permutation(n)[: int(round(fraction * n))]] = True
    return flags


def plan_cohort(params: SynthesizeParams, dicom_root: str | Path, *, rows: int | None = None,
                z_extent_mm: float | None = None, keep_volumes: bool = False
                ) -> list[PatientPlan]:
    """Draw the cohort-level choices. ``rows``/``z_extent_mm`` shrink scans (tests only)."""
    profile = get_profile(params.profile)
    n = params.n_patients
    rng = np.random.default_rng(np.random.SeedSequence(params.seed).spawn(1)[0])
    ids = make_patient_ids(rng, n)
    identities = [make_identity(rng, pid) for pid in ids]
    syntax = np.full(n, str(ExplicitVRLittleEndian), dtype=object)
    order = rng.permutation(n)
    n_rle = int(round(params.rle_fraction * n))
    n_implicit = int(round(params.implicit_vr_fraction * n))
    syntax[order[:n_rle]] = str(RLELossless)
    syntax[order[n_rle:n_rle + n_implicit]] = str(ImplicitVRLittleEndian)
    feet_first = _assign(rng, n, params.feet_first_fraction)
    prone = _assign(rng, n, params.prone_fraction)
    split = _assign(rng, n, params.split_study_fraction)
    second = _assign(rng, n, params.second_series_fraction)
    vendors = rng.integers(len(VENDORS), size=n)
    return [PatientPlan(
        index=i, seed=params.seed, profile=profile, identity=identities[i],
        vendor_index=int(vendors[i]),
        patient_position=("FF" if feet_first[i] else "HF") + ("P" if prone[i] else "S"),
        transfer_syntax=str(syntax[i]), split_study=bool(split[i]),
        second_series=bool(second[i]), nodules_per_patient=params.nodules_per_patient,
        nodule_diameter_mm=params.nodule_diameter_mm,
        negatives_per_nodule=params.negatives_per_nodule,
        hard_negative_fraction=params.hard_negative_fraction, dicom_root=str(dicom_root),
        rows_override=rows, z_extent_override_mm=z_extent_mm, keep_volumes=keep_volumes)
        for i in range(n)]


def _scan_grid(plan: PatientPlan, rng: np.random.Generator) -> tuple[int, float, float]:
    """Rows, pixel spacing (mm) and FOV (mm) so the chest fits the profile's field of view."""
    prof = plan.profile
    rows = plan.rows_override or int(rng.choice(prof.rows_choices))
    lo = max(prof.pixel_spacing_mm[0], prof.fov_mm[0] / rows)
    hi = min(prof.pixel_spacing_mm[1], prof.fov_mm[1] / rows)
    if lo > hi:  # only with a rows override: keep the field of view, not the pixel size
        lo, hi = prof.fov_mm[0] / rows, prof.fov_mm[1] / rows
    pixel = round(float(rng.uniform(lo, hi)), 4)
    return rows, pixel, rows * pixel


def written_geometry(grid: Grid, patient_position: str) -> tuple[Geometry, tuple[int, int, int]]:
    """The DICOM geometry of ``grid`` written in ``patient_position``'s orientation.

    Returns the geometry (origin = first pixel of the first slice along the normal) and the sign
    of each index axis relative to the world axis it runs along (x, y, z).
    """
    orient = ORIENTATIONS[patient_position]
    direction = direction_from_dicom(orient.iop)
    signs = tuple(int(np.sign(direction[a, a])) for a in range(3))
    origin = [grid.origin_mm[a] + (0 if signs[a] > 0 else (grid.size[a] - 1) * grid.spacing_mm[a])
              for a in range(3)]
    geo = Geometry(vec3([round(v, 6) for v in origin]), grid.spacing_mm,
                   tuple(direction.ravel()))
    return geo, signs  # type: ignore[return-value]


def _file_names(rng: np.random.Generator, style: str, sop_uids: tuple[str, ...]) -> list[str]:
    nums = rng.choice(10**6 if "06d" in style else 10**8, size=len(sop_uids), replace=False)
    return [style.format(num=int(k), hash=hashlib.sha1(uid.encode()).hexdigest()[:16])
            for k, uid in zip(nums, sop_uids, strict=True)]


def small_finding_candidates(findings: list[Nodule], rng: np.random.Generator
                             ) -> list[Candidate]:
    """A CAD mark (class 0) on some sub-3 mm findings, jittered within their radius."""
    out = []
    for f in findings:
        if rng.random() < SMALL_FINDING_CANDIDATE_PROBABILITY:
            shift = rng.standard_normal(3)
            shift *= 0.3 * f.diameter_mm / 2 * rng.random() / np.linalg.norm(shift)
            out.append(Candidate(vec3(np.asarray(f.center_mm) + shift), 0, SMALL_FINDING_KIND))
    return out


def generate_patient(plan: PatientPlan) -> PatientResult:
    """Render and write one patient's series; return what was written (top-level, picklable)."""
    streams = np.random.SeedSequence(plan.seed, spawn_key=(1, plan.index)).spawn(5)
    geo_rng, anat_rng, noise_rng, file_rng, small_rng = (np.random.default_rng(s) for s in streams)
    rows, pixel, fov = _scan_grid(plan, geo_rng)
    body_center = (float(geo_rng.uniform(-15, 15)), float(geo_rng.uniform(-10, 25)))
    fov_center = (body_center[0] + float(geo_rng.uniform(-8, 8)),
                  body_center[1] + float(geo_rng.uniform(-8, 8)))
    max_half = fov / 2 - 12 - abs(body_center[0] - fov_center[0])
    lung_mid = float(geo_rng.uniform(-260, 80))
    an = sample_anatomy(anat_rng, body_center, max_half, lung_mid, plan.patient_position[-1] == "S")
    prof = plan.profile
    extent = plan.z_extent_override_mm or float(geo_rng.uniform(*prof.z_extent_mm))
    if prof.whole_chest:
        z_top = an.lung_top_z_mm + float(geo_rng.uniform(10, 30))
    else:
        z_top = lung_mid + extent / 2 + float(geo_rng.uniform(-15, 15))
    spacings = list(prof.slice_spacing_choices_mm)
    first_dz = float(geo_rng.choice(spacings))
    series_dz = [first_dz]
    if plan.second_series:
        series_dz.append(float(geo_rng.choice([s for s in spacings if s != first_dz])))
    n_noise = float(geo_rng.uniform(12, 22))
    kernels = VENDORS[plan.vendor_index].kernels
    series_kernels = [kernels[int(geo_rng.integers(0, 2))], kernels[2]]
    n_z = int(extent / first_dz) + 1
    z_bottom = round(z_top - (n_z - 1) * first_dz, 3)
    grid_p = placement_grid(an, (z_bottom, z_bottom + (n_z - 1) * first_dz))
    count = int(anat_rng.integers(plan.nodules_per_patient[0], plan.nodules_per_patient[1] + 1))
    nodules = sample_nodules(an, grid_p, anat_rng, count, plan.nodule_diameter_mm)
    an = dataclasses.replace(an, nodules=tuple(nodules))
    candidates = sample_candidates(an, grid_p, anat_rng, plan.negatives_per_nodule,
                                   plan.hard_negative_fraction)
    lo, hi = SMALL_FINDINGS_PER_PATIENT
    small = sample_small_findings(
        an, grid_p, small_rng, int(small_rng.integers(lo, hi + 1)), SMALL_FINDING_DIAMETER_MM,
        np.array([c.center_mm for c in candidates], dtype=np.float64).reshape(-1, 3))
    an = dataclasses.replace(an, small_findings=tuple(small))
    candidates += small_finding_candidates(small, small_rng)
    origin_xy = (round(fov_center[0] - fov / 2 + pixel / 2, 3),
                 round(fov_center[1] - fov / 2 + pixel / 2, 3))
    style = FILE_NAME_STYLES[int(file_rng.integers(len(FILE_NAME_STYLES)))]
    records, preview = [], None
    for s, (dz, kernel) in enumerate(zip(series_dz, series_kernels, strict=False)):
        nz = int((n_z - 1) * first_dz / dz) + 1
        grid = Grid((origin_xy[0], origin_xy[1], z_bottom), (pixel, pixel, dz), (rows, rows, nz))
        record, pv = _write_series(plan, an, grid, s + 1, kernel, n_noise * kernel.noise_factor,
                                   noise_rng, file_rng, style, want_preview=(s == 0))
        records.append(record)
        preview = preview or pv
    return PatientResult(plan.index, an, tuple(records), tuple(candidates), preview)


def _write_series(plan: PatientPlan, an: Anatomy, grid: Grid, series_number: int, kernel: Kernel,
                  noise_hu: float, noise_rng: np.random.Generator, file_rng: np.random.Generator,
                  style: str, want_preview: bool) -> tuple[SeriesRecord, Preview | None]:
    ident = plan.identity
    geo, signs = written_geometry(grid, plan.patient_position)
    nx, ny, nz = grid.size
    key = (plan.seed, plan.index)
    uids = SeriesUIDs(
        study_uid=deterministic_uid(*key, "study"),
        series_uid=deterministic_uid(*key, "series", series_number),
        frame_of_reference_uid=deterministic_uid(*key, "frame"),
        sop_instance_uids=tuple(deterministic_uid(*key, "sop", series_number, k)
                                for k in range(nz)))
    orient = ORIENTATIONS[plan.patient_position]
    head_is_last = signs[2] > 0  # written index nz-1 is the most cranial slice
    numbers = [(nz - k if head_is_last else k + 1) if orient.instances_head_first
               else (k + 1 if head_is_last else nz - k) for k in range(nz)]
    last, first = (ascii_fold(p).upper() for p in (ident.patient_name.split("^") + [""])[:2])
    study_dir = f"{ident.study_date}_{ascii_fold(ident.accession_number)}"
    names = _file_names(file_rng, style, uids.sop_instance_uids)
    split = file_rng.random(nz) < SPLIT_PART_PROBABILITY if plan.split_study else np.zeros(nz, bool)
    rel = [Path(f"{last}_{first}_{ident.patient_id}") /
           (study_dir + ("_2" if split[k] else "")) / f"SE{series_number}" / names[k]
           for k in range(nz)]
    root = Path(plan.dicom_root)
    vendor = VENDORS[plan.vendor_index]
    nodule = max(an.nodules, key=lambda n: n.diameter_mm) if an.nodules else None
    y_axis = grid.axis_mm(1)
    jy = int(np.argmin(np.abs(y_axis - nodule.center_mm[1]))) if nodule else ny // 2
    kz = int(np.argmin(np.abs(grid.axis_mm(2) - nodule.center_mm[2]))) if nodule else nz // 2
    axial, coronal = None, np.zeros((nz, nx), dtype=np.int16)
    volume = np.zeros((nz, ny, nx), dtype=np.int16) if plan.keep_volumes else None
    template = None
    for z0, block in render_chunks(an, grid, kernel.fwhm_mm, noise_hu, noise_rng):
        stored = stored_values(block)
        coronal[z0:z0 + len(block)] = stored[:, jy, :].astype(np.int16) + HU_OFFSET
        if z0 <= kz < z0 + len(block):
            axial = stored[kz - z0].astype(np.int16) + HU_OFFSET
        for c in range(len(block)):
            k = z0 + c if signs[2] > 0 else nz - 1 - (z0 + c)
            pixels = stored[c, :: signs[1], :: signs[0]]
            if volume is not None:
                volume[k] = pixels.astype(np.int16) + HU_OFFSET
            if template is None:
                template = build_slice_dataset(
                    pixels, k, geo, ident, uids, series_number=series_number,
                    instance_number=numbers[k], manufacturer=vendor.manufacturer,
                    model_name=vendor.model_name, kernel=kernel.name,
                    patient_position=plan.patient_position)
                ds = template
            else:
                ds = restamp_slice(template, pixels, k, geo, uids, numbers[k])
            save_dataset(ds, root / rel[k], plan.transfer_syntax)
    size = sum((root / p).stat().st_size for p in rel)
    record = SeriesRecord(plan.index, uids.series_uid, series_number, grid, geo,
                          plan.patient_position, UID(plan.transfer_syntax).keyword, kernel.name,
                          tuple(p.as_posix() for p in rel), size, volume)
    preview = None
    if want_preview and nodule is not None and axial is not None:
        preview = Preview(plan.index, axial, coronal, grid.axis_mm(0), y_axis, grid.axis_mm(2),
                          nodule, an.nodules)
    return record, preview


def cohort_tables(patients: list[PatientResult]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """LUNA16 ``annotations``, ``candidates`` (+ ``kind``) and ``annotations_excluded`` (the
    sub-3 mm findings, same columns as annotations) for every written series."""
    ann, cand, excl = [], [], []
    for p in patients:
        for s in p.series:
            for n in p.anatomy.nodules:
                ann.append((s.series_uid, *n.center_mm, n.diameter_mm))
            for f in p.anatomy.small_findings:
                excl.append((s.series_uid, *f.center_mm, f.diameter_mm))
            for c in p.candidates:
                cand.append((s.series_uid, *c.center_mm, c.label, c.kind))
    annotations = pd.DataFrame(ann, columns=ANNOTATION_COLUMNS)
    candidates = pd.DataFrame(cand, columns=[*CANDIDATE_COLUMNS, "kind"])
    excluded = pd.DataFrame(excl, columns=ANNOTATION_COLUMNS)
    return annotations, candidates, excluded


def cohort_metrics(params: SynthesizeParams, patients: list[PatientResult],
                   candidates: pd.DataFrame) -> dict:
    """Cohort size for ``reports/synthesize.json`` (no identity)."""
    series = [s for p in patients for s in p.series]
    nodules = [n for p in patients for n in p.anatomy.nodules]
    return {
        "profile": params.profile,
        "patients": len(patients),
        "series": len(series),
        "slices": sum(len(s.files) for s in series),
        "mb_on_disk": round(sum(s.bytes_on_disk for s in series) / 1e6, 3),
        "nodules": len(nodules),
        "annotations": sum(len(p.anatomy.nodules) * len(p.series) for p in patients),
        "small_findings": sum(len(p.anatomy.small_findings) for p in patients),
        "annotations_excluded": sum(len(p.anatomy.small_findings) * len(p.series)
                                    for p in patients),
        "candidates": int(len(candidates)),
        "positives": int((candidates["class"] == 1).sum()),
        "negatives_by_kind": dict(sorted(Counter(
            candidates.loc[candidates["class"] == 0, "kind"]).items())),
        "nodules_by_texture": dict(sorted(Counter(n.texture for n in nodules).items())),
        "nodules_by_location": dict(sorted(Counter(n.location for n in nodules).items())),
        "series_per_transfer_syntax": dict(sorted(Counter(s.transfer_syntax
                                                          for s in series).items())),
        "series_per_patient_position": dict(sorted(Counter(s.patient_position
                                                           for s in series).items())),
    }


def synthesize_cohort(output_dir: str | Path, params: SynthesizeParams, executor: ExecutorParams,
                      *, rows: int | None = None, z_extent_mm: float | None = None,
                      keep_volumes: bool = False) -> CohortResult:
    """Write the cohort to ``output_dir`` atomically: ``dicom/``, ``annotations.csv``,
    ``annotations_excluded.csv``, ``candidates.csv``. ``rows``/``z_extent_mm`` shrink every
    scan and ``keep_volumes`` returns the HU arrays written (for tests)."""
    with atomic_dir(output_dir) as tmp:
        plans = plan_cohort(params, tmp / "dicom", rows=rows, z_extent_mm=z_extent_mm,
                            keep_volumes=keep_volumes)
        patients = map_items(generate_patient, plans, executor, desc="patients")
        annotations, candidates, excluded = cohort_tables(patients)
        for table, frame in ((SYNTH_ANNOTATIONS, annotations), (SYNTH_EXCLUDED, excluded),
                             (SYNTH_CANDIDATES, candidates)):
            table.write(tmp / table.file, frame)
        write_marker(tmp)  # lets anonymize use the public demo key on this cohort only
    metrics = cohort_metrics(params, patients, candidates)
    log.info("wrote %d patients, %d series, %d slices", metrics["patients"], metrics["series"],
             metrics["slices"])
    return CohortResult(patients, annotations, candidates, metrics, excluded)
