"""Resample's part of the fingerprint: intensities inside the lungs and the body, volume sizes and
lung volumes of the resampled scans, as cohort summaries (no UID, no per-scan key).

Each volume is read once by a worker, which returns a few numbers and coarse histograms; memory
stays bounded by one volume per worker. The lungs are the stage's own ``*_lung.nii.gz``
(:func:`pipeline.imaging.lung.lung_mask`), computed the same way when ``resample.lung_mask`` is
off; ``scans_without_lung`` counts the scans where that mask is empty. The body is every voxel
denser than :data:`BODY_THRESHOLD_HU` plus the lungs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from pipeline.fingerprint.stats import (
    by_category,
    merge_counts,
    number_key,
    quantile_from_counts,
    summary,
)
from pipeline.imaging.lung import lung_mask
from pipeline.imaging.resample_cohort import RESAMPLED_REJECTED
from pipeline.imaging.volume_table import GEOMETRY
from pipeline.parallel import ExecutorParams, map_items

BODY_THRESHOLD_HU = -500.0
HU_MIN, HU_MAX = -1024, 3071  # the histogram's range; values outside are clipped into it
HU_BIN = 10
QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}


@dataclass(frozen=True)
class VolumeTask:
    """One resampled volume."""

    volume_path: str
    lung_path: str = ""  # the stage's lung mask; computed from the volume when there is none


def scan_lung_mask(task: VolumeTask, volume_hu: np.ndarray) -> np.ndarray:
    """bool ``(z, y, x)`` lungs of a scan: resample's mask file, else :func:`lung_mask`."""
    if task.lung_path:
        return sitk.GetArrayFromImage(sitk.ReadImage(task.lung_path)) > 0
    return lung_mask(volume_hu) > 0


def coarse(counts_1hu: np.ndarray, width: int = HU_BIN) -> dict[str, int]:
    """A dense 1 HU histogram (index 0 = :data:`HU_MIN`) re-binned to ``width`` HU bins aligned on
    multiples of ``width`` (``[-860, -850)`` ...), keyed by bin centre, empty bins left out."""
    hu = np.arange(len(counts_1hu)) + HU_MIN
    k = np.floor_divide(hu, width)
    sums = np.bincount(k - k[0], weights=np.asarray(counts_1hu, dtype=np.float64))
    return {number_key((k[0] + i) * width + width / 2): int(c) for i, c in enumerate(sums) if c}


def volume_facts(task: VolumeTask) -> dict[str, Any]:
    """Worker: HU quantiles in lung and body, lung volume (ml) and size of one volume."""
    image = sitk.ReadImage(task.volume_path)
    values = sitk.GetArrayViewFromImage(image)
    lung = scan_lung_mask(task, np.asarray(values))
    body = (values > BODY_THRESHOLD_HU) | lung
    clipped = np.clip(values, HU_MIN, HU_MAX).astype(np.int64) - HU_MIN
    length = HU_MAX - HU_MIN + 1
    lung_counts = np.bincount(clipped[lung], minlength=length)
    body_counts = np.bincount(clipped[body], minlength=length)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    facts: dict[str, Any] = {"size": [int(s) for s in image.GetSize()],
                             "lung_volume_ml": round(float(lung.sum()) * voxel_ml, 1),
                             "lung_histogram": coarse(lung_counts),
                             "body_histogram": coarse(body_counts)}
    for region, counts in (("lung", lung_counts), ("body", body_counts)):
        for name, q in QUANTILES.items():
            facts[f"{region}_{name}"] = quantile_from_counts(counts, q, offset=HU_MIN)
    return facts


def _region(per_scan: Sequence[dict[str, Any]], region: str) -> dict[str, Any]:
    hist = merge_counts(p[f"{region}_histogram"] for p in per_scan)
    out: dict[str, Any] = {"bin_hu": HU_BIN, "histogram": hist}
    # the cohort's figure is the median over scans of each scan's quantile (robust to big scans)
    for name in QUANTILES:
        vals = [p[f"{region}_{name}"] for p in per_scan if p[f"{region}_{name}"] is not None]
        out[name] = summary(vals, digits=1)["median"]
    out["per_scan_median"] = summary([p[f"{region}_p50"] for p in per_scan
                                      if p[f"{region}_p50"] is not None], digits=1)
    return out


def resample_fingerprint(volumes_dir: Path, executor: ExecutorParams) -> dict[str, Any]:
    """Resample's part, from ``geometry.csv``, the volumes and ``rejected.csv`` of the output."""
    volumes_dir = Path(volumes_dir)
    geometry = GEOMETRY.read(volumes_dir / GEOMETRY.file)
    tasks = [VolumeTask(str(volumes_dir / r["file"]),
                        str(volumes_dir / r["lung_file"]) if r.get("lung_file") else "")
             for r in geometry.to_dict("records")]
    per_scan = map_items(volume_facts, tasks, executor, desc="fingerprint")
    rejected_path = volumes_dir / RESAMPLED_REJECTED.file
    rejected = RESAMPLED_REJECTED.read(rejected_path) if rejected_path.is_file() \
        else RESAMPLED_REJECTED.frame()
    sizes = np.array([p["size"] for p in per_scan], dtype=float).reshape(-1, 3)
    return {
        "scans": len(per_scan),
        "spacing_mm": summary(geometry["spacing_x"]) if len(geometry) else summary([]),
        "lung_hu": _region(per_scan, "lung"),
        "body_hu": _region(per_scan, "body"),
        "lung_volume_ml": summary([p["lung_volume_ml"] for p in per_scan], digits=1),
        "scans_without_lung": sum(1 for p in per_scan if p["lung_volume_ml"] == 0),
        "volume_size": {axis: summary(sizes[:, i]) for i, axis in enumerate("xyz")},
        "volume_mvoxels": summary(np.prod(sizes, axis=1) / 1e6, digits=2),
        "rejected": {"series": int(len(rejected)),
                     "by_reason": by_category(rejected["reason"].value_counts().to_dict())},
    }
