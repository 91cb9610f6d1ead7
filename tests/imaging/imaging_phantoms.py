"""Tiny phantoms for imaging tests: a ball at a known world point, optionally as DICOM."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import yaml

from pipeline.imaging.geometry import Geometry
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity(
    patient_name="PSEUDO^ONE", patient_id="P0", birth_date="19600101", sex="O", age="060Y",
    accession_number="ACC000001", study_date="20200101", study_time="120000",
    institution_name="", institution_address="", referring_physician="",
    performing_physician="", operator_name="", station_name="ST1", device_serial="0")


def ball_volume(shape_zyx: Sequence[int], geometry: Geometry, center_world_mm: Sequence[float],
                radius_mm: float, inside_hu: float = 400.0, background_hu: float = -1000.0
                ) -> np.ndarray:
    """A ``(z, y, x)`` HU volume with a ball of ``radius_mm`` at a world point."""
    zz, yy, xx = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape_zyx], indexing="ij")
    voxels = np.stack([zz.ravel(), yy.ravel(), xx.ravel()], axis=1)
    dist = np.linalg.norm(geometry.voxel_to_world(voxels) - np.asarray(center_world_mm), axis=1)
    volume = np.where(dist <= radius_mm, inside_hu, background_hu)
    return volume.reshape(tuple(shape_zyx)).astype(np.float32)


def write_series(root: Path, series_uid: str, volume_hu: np.ndarray, geometry: Geometry) -> str:
    """Write a series as ``root/dicom/<uid>/NNNN.dcm`` (stack order); return the ``files`` cell."""
    n = volume_hu.shape[0]
    rel = [f"dicom/{series_uid}/{k:04d}.dcm" for k in range(n)]
    uids = SeriesUIDs(study_uid=f"{series_uid}.1", series_uid=series_uid,
                      frame_of_reference_uid=f"{series_uid}.2",
                      sop_instance_uids=tuple(f"{series_uid}.3.{k}" for k in range(n)))
    write_ct_series(volume_hu, geometry, [root / r for r in rel], IDENTITY, uids)
    return "|".join(rel)


def series_table(rows: list[dict[str, str]]) -> pd.DataFrame:
    """An anonymize-style ``series.csv`` frame."""
    return pd.DataFrame(rows, columns=["series_uid", "patient_id", "study_uid", "n_slices",
                                       "slice_spacing_mm", "files"])


# A small cohort: 4 patients, one series each, one ball (nodule) per series at a known point.
COHORT_GEOMETRIES = {
    "1.2.826.0.1.1": Geometry((-10.0, -12.0, -8.0), (1.4, 1.4, 2.0)),
    "1.2.826.0.1.2": Geometry((10.0, 12.0, 8.0), (1.25, 1.25, 2.5),
                              (1, 0, 0, 0, -1, 0, 0, 0, -1)),
    "1.2.826.0.1.3": Geometry((-10.0, -12.0, 8.0), (1.5, 1.5, 2.0),
                              (0, 1, 0, 1, 0, 0, 0, 0, -1)),
    "1.2.826.0.1.4": Geometry((-10.0, -12.0, -8.0), (1.4, 1.4, 2.0)),
}


def write_cohort(root: Path) -> Path:
    """An anonymize-style folder: dicom/, series.csv, candidates.csv, annotations.csv."""
    rows, cands, anns = [], [], []
    for n, (uid, geo) in enumerate(COHORT_GEOMETRIES.items()):
        shape = (8, 16, 16)
        center = geo.voxel_to_world([3.5, 7.0, 8.0])
        files = write_series(root, uid, ball_volume(shape, geo, center, 4.0), geo)
        rows.append({"series_uid": uid, "patient_id": f"PAT{n % 4:02d}", "study_uid": f"{uid}.1",
                     "n_slices": "8", "slice_spacing_mm": str(geo.spacing[2]), "files": files})
        anns.append([uid, *center, 8.0])
        cands.append([uid, *center, 1])
        cands.append([uid, *(center + np.array([0.0, 0.0, 1.0])), 0])
        cands.append([uid, *geo.voxel_to_world([1.0, 2.0, 3.0]), 0])
    first = next(iter(COHORT_GEOMETRIES))
    cands.append([first, 500.0, 500.0, 500.0, 0])  # outside the volume
    cands.append(["9.9.9", 0.0, 0.0, 0.0, 1])  # series not resampled
    root.mkdir(parents=True, exist_ok=True)
    series_table(rows).to_csv(root / "series.csv", index=False)
    pd.DataFrame(cands, columns=["seriesuid", "coordX", "coordY", "coordZ", "class"]).to_csv(
        root / "candidates.csv", index=False)
    pd.DataFrame(anns, columns=["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"]).to_csv(
        root / "annotations.csv", index=False)
    return root


REPO = Path(__file__).resolve().parents[2]


def load_stage(name: str) -> ModuleType:
    """Import ``stages/<name>.py`` as a module (stages/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}_under_test",
                                                  REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def write_params(path: Path, **sections: dict) -> Path:
    """The repository's params.yaml with some keys of some sections replaced."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for section, values in sections.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path
