"""Nodule candidates of one CT volume, in LUNA16's candidate format (world mm).

``generate_candidates`` chains the steps, each a small function of this package:
lung mask closed per lung (``lung``) -> HU clipped, outside the lungs filled with the lung's own
median so the chest wall and mediastinum give no edges -> multi-scale LoG peaks with Hessian
blobness (``blobs``) -> gates: blob shape (vessels and pleura out), density (solid or sub-solid,
air and noise out), contrast -> score -> non-maximum suppression (``nms``) -> world coordinates.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from pipeline import tables
from pipeline.detection.blobs import Blobs, detect_blobs, scale_radii_mm
from pipeline.detection.lung import closed_lung_mask
from pipeline.detection.nms import suppress
from pipeline.detection.params import CandidateParams
from pipeline.imaging.geometry import Geometry

log = logging.getLogger(__name__)

COORDS = list(tables.COORDS)
CSV_FLOAT_FORMAT = "%.3f"
#: the candidates stage's ``candidates.csv`` without annotations: world centre (mm, LPS), the
#: generator's score, blob scale and density
CANDIDATES = tables.Table("candidates.csv", "candidates", (
    ("seriesuid", "uid"), *((c, "number") for c in COORDS), ("score", "number"),
    ("diameter_mm", "number"), ("density", "text")), float_format=CSV_FLOAT_FORMAT)
#: the same labelled against the annotations (LUNA16 hit rule): ``class`` and the
#: ``annotation_id`` of the nodule hit (-1 for none)
LABELLED_CANDIDATES = tables.Table("candidates.csv", "candidates (labelled)", (
    *CANDIDATES.columns, ("class", "class"), ("annotation_id", "int")),
    float_format=CSV_FLOAT_FORMAT)
#: LUNA16 candidate columns plus what the generator knows about each candidate (then ``density``)
CANDIDATE_COLUMNS = [name for name in CANDIDATES.names if name != "density"]
DENSITY_SOLID, DENSITY_SUBSOLID = "solid", "subsolid"


def generate_candidates(volume_hu: np.ndarray, geometry: Geometry, params: CandidateParams,
                        seriesuid: str = "") -> pd.DataFrame:
    """Candidates of a ``(z, y, x)`` HU volume, strongest first.

    Returns:
        A table with :data:`CANDIDATE_COLUMNS` (world mm, LPS; ``diameter_mm`` the blob's scale
        ``2 r``) plus ``density`` (solid | subsolid); at most ``params.max_candidates`` rows.
    """
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (z, y, x) volume, got shape {volume_hu.shape}")
    spacing = tuple(float(s) for s in geometry.spacing[::-1])
    mask = closed_lung_mask(volume_hu, spacing, params.lung_threshold_hu,  # type: ignore[arg-type]
                            params.lung_closing_mm, params.mask_spacing_mm)
    if not mask.any():
        log.warning("series %s: no lung found", seriesuid or "?")
        return _table(seriesuid, np.zeros((0, 3)), Blobs.empty(), np.zeros(0), np.zeros(0, bool))
    box = _crop_box(mask, spacing, params.radius_mm[1])
    image, background = prepare_image(volume_hu[box], mask[box], params.hu_clip)
    blobs = detect_blobs(image, spacing, mask[box],  # type: ignore[arg-type]
                         scale_radii_mm(params.radius_mm, params.scales), params.min_response_hu)
    keep = gate(blobs, background, params)
    blobs = blobs.select(keep)
    solid = centre_values(image, blobs.voxel) >= params.solid_hu
    score = blob_score(blobs, solid, params.subsolid_weight, params.scale_exponent)
    offset = np.array([s.start for s in box], dtype=np.float64)
    world = geometry.voxel_to_world(blobs.voxel + offset) if len(blobs) else np.zeros((0, 3))
    kept = suppress(world, blobs.radius_mm, score, params.nms_factor, params.max_candidates)
    return _table(seriesuid, world[kept], blobs.select(kept), score[kept], solid[kept])


def prepare_image(volume_hu: np.ndarray, mask: np.ndarray, hu_clip: tuple[float, float]
                  ) -> tuple[np.ndarray, float]:
    """float32 HU clipped to ``hu_clip`` with the voxels outside ``mask`` set to the lung
    background (the median inside the mask), and that background."""
    image = np.clip(volume_hu.astype(np.float32), hu_clip[0], hu_clip[1])
    inside = image[mask]
    background = float(np.median(inside)) if inside.size else float(hu_clip[0])
    image[~mask] = background
    return image, background


def gate(blobs: Blobs, background_hu: float, params: CandidateParams) -> np.ndarray:
    """bool per blob: nodule-like.

    A blob is kept when its shape ratio reaches ``min_blob_ratio``, its smoothed centre is at
    least ``subsolid_hu`` and ``min_contrast_hu`` above the lung background.
    """
    contrast = blobs.center_hu - background_hu
    keep = (blobs.blob_ratio >= params.min_blob_ratio) & (blobs.center_hu >= params.subsolid_hu)
    return keep & (contrast >= params.min_contrast_hu)


def centre_values(image: np.ndarray, voxel: np.ndarray) -> np.ndarray:
    """HU of ``image`` at the nearest voxel of each ``(z, y, x)`` point (solid if >= solid_hu)."""
    if len(voxel) == 0:
        return np.zeros(0)
    idx = np.clip(np.round(voxel).astype(np.intp), 0, np.asarray(image.shape) - 1)
    return image[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)


def blob_score(blobs: Blobs, solid: np.ndarray, subsolid_weight: float, scale_exponent: float
               ) -> np.ndarray:
    """Scale-normalised LoG (HU) x shape ratio x ``radius_mm ** scale_exponent``; sub-solid
    blobs weighted by ``subsolid_weight``."""
    score = blobs.response * np.clip(blobs.blob_ratio, 0.0, 1.0) * blobs.radius_mm**scale_exponent
    return np.where(solid, score, score * subsolid_weight)


def _crop_box(mask: np.ndarray, spacing_mm: tuple[float, ...], margin_mm: float
              ) -> tuple[slice, slice, slice]:
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    pad = [int(np.ceil(margin_mm / s)) for s in spacing_mm]
    return tuple(slice(max(0, int(a) - p), min(n, int(b) + p))  # type: ignore[return-value]
                 for a, b, p, n in zip(lo, hi, pad, mask.shape, strict=True))


def _table(seriesuid: str, world: np.ndarray, blobs: Blobs, score: np.ndarray, solid: np.ndarray
           ) -> pd.DataFrame:
    table = pd.DataFrame({"seriesuid": pd.Series([seriesuid] * len(score), dtype=object),
                          "coordX": world[:, 0], "coordY": world[:, 1], "coordZ": world[:, 2],
                          "score": np.round(score, 3), "diameter_mm": 2 * blobs.radius_mm,
                          "density": np.where(solid, DENSITY_SOLID, DENSITY_SUBSOLID)})
    return table.reset_index(drop=True)
