"""A tiny, separable patches folder (bright ball vs. no ball) for tests and benchmarks.

Writes what the ``patches`` stage writes (docs/data-contracts.md), through the same writer
(:mod:`pipeline.data.patches_format`): ``cubes.npy``, ``index.csv``, ``annotations.csv``,
``annotations_excluded.csv`` and ``rejected.csv`` (both empty), ``preprocess.json``, with
pseudonymous ids. Positives hold
a soft-tissue ball at the centre; negatives are parenchyma, half of them with a ball far from the
centre, so the centre matters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.patches_format import (
    CUBES_FILE,
    PAD_HU,
    PATCH_ANNOTATIONS,
    PATCH_EXCLUDED,
    PATCH_INDEX,
    PATCH_REJECTED,
    Preprocess,
    create_cubes,
    write_patches_tables,
)
from pipeline.imaging.patches import AXES


def toy_cube(rng: np.random.Generator, size: int, positive: bool) -> tuple[np.ndarray, float]:
    """One int16 HU cube and the ball diameter in voxels (0 for a negative)."""
    z, y, x = np.mgrid[:size, :size, :size].astype(np.float32)
    cube = rng.normal(-820.0, 40.0, size=(size,) * 3).astype(np.float32)
    c = size // 2
    diameter = 0.0
    if positive:
        r = float(rng.uniform(size * 0.12, size * 0.25))
        centre = c + rng.integers(-1, 2, size=3)
        diameter = 2 * r
    elif rng.random() < 0.5:
        r = float(rng.uniform(size * 0.08, size * 0.15))
        centre = np.where(rng.random(3) < 0.5, r + 1, size - r - 2).astype(np.float32)
    else:
        return np.clip(cube, -1024, 3071).astype(np.int16), 0.0
    ball = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= r * r
    cube[ball] = rng.normal(30.0, 20.0, size=int(ball.sum()))
    return np.clip(cube, -1024, 3071).astype(np.int16), diameter


def write_toy_patches(folder: str | Path, n_candidates: int = 128, cube_size: int = 16,
                      positive_fraction: float = 0.3, candidates_per_scan: int = 4,
                      seed: int = 0) -> Path:
    """Write a toy patches folder and return its path (spacing 1 mm, world = voxel + offset).

    One scan per patient, ``candidates_per_scan`` candidates each; positives spread over scans.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cubes = np.empty((n_candidates, cube_size, cube_size, cube_size), dtype=np.int16)
    labels = np.zeros(n_candidates, dtype=np.int64)
    labels[rng.permutation(n_candidates)[: max(1, round(n_candidates * positive_fraction))]] = 1
    rows: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for i in range(n_candidates):
        scan = i // candidates_per_scan + 1
        cubes[i], diameter = toy_cube(rng, cube_size, bool(labels[i]))
        xyz = (float(10 * i), float(-5 * i), float(100 + 3 * i))
        ann = f"N{len(notes) + 1:04d}" if labels[i] else ""
        series = f"1.2.826.0.1.3680043.9.9999.{scan}"
        patient = f"PSEUDO-{scan:04d}"
        rows.append({"row": i, "series_uid": series, "patient_id": patient,
                     "candidate_id": f"C{i:05d}", "coordX": xyz[0], "coordY": xyz[1],
                     "coordZ": xyz[2], "label": int(labels[i]), "diameter_mm": diameter or np.nan,
                     "annotation_id": ann})
        if labels[i]:
            notes.append({"seriesuid": series, "coordX": xyz[0], "coordY": xyz[1],
                          "coordZ": xyz[2], "diameter_mm": max(diameter, 2.0),
                          "annotation_id": ann, "patient_id": patient})
    array = create_cubes(folder / CUBES_FILE, n_candidates, cube_size)
    array[:] = cubes
    array.flush()
    del array
    preprocess = Preprocess(spacing_mm=1.0, cube_size=cube_size, hu_range=(-1024.0, 3071.0),
                            interpolator="linear", anti_alias=True, pad_hu=PAD_HU, axes=AXES)
    write_patches_tables(folder, PATCH_INDEX.frame(rows), PATCH_ANNOTATIONS.frame(notes),
                         PATCH_REJECTED.frame(), PATCH_EXCLUDED.frame(), preprocess)
    return folder


def write_toy_folds(patches: str | Path, path: str | Path, folds: int = 3, seed: int = 7) -> Path:
    """The folds stage's table for a toy patches folder (same algorithm as the stage)."""
    from pipeline.data.folds import assign_folds, write_folds
    index = PATCH_INDEX.read(Path(patches) / PATCH_INDEX.file)
    table = assign_folds(index.groupby("patient_id")["label"].sum().to_dict(),
                         index.groupby("patient_id").size().to_dict(), folds, seed)
    write_folds(path, table)
    return Path(path)
