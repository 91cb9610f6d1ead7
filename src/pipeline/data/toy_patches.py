"""A tiny, separable patches folder (bright ball vs. no ball) for tests and benchmarks.

Writes exactly what the ``patches`` stage writes (docs/data-contracts.md): ``{train,val,test}.npy``,
``index.csv``, ``preprocess.json`` and ``annotations.csv``, with pseudonymous ids. Positives hold
a soft-tissue ball at the centre; negatives are parenchyma, half of them with a ball far from the
centre, so the centre matters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.io import write_csv, write_text


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


def write_toy_patches(folder: str | Path, n_per_split: dict[str, int] | None = None,
                      cube_size: int = 16, slice_px: int = 8, positive_fraction: float = 0.3,
                      candidates_per_scan: int = 4, seed: int = 0) -> Path:
    """Write a toy patches folder and return its path (spacing 1 mm, world = voxel + offset)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_per_split = n_per_split or {"train": 64, "val": 32, "test": 32}
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    scan = 0
    for split, n in n_per_split.items():
        cubes = np.empty((n, cube_size, cube_size, cube_size), dtype=np.int16)
        labels = np.zeros(n, dtype=np.int64)
        labels[rng.permutation(n)[: max(1, round(n * positive_fraction))]] = 1
        for i in range(n):
            if i % candidates_per_scan == 0:
                scan += 1
            cubes[i], diameter = toy_cube(rng, cube_size, bool(labels[i]))
            xyz = (float(10 * i), float(-5 * i), float(100 + 3 * i))
            ann = f"N{len(notes) + 1:04d}" if labels[i] else ""
            series = f"1.2.826.0.1.3680043.9.9999.{scan}"
            rows.append({"split": split, "row": i, "series_uid": series,
                         "patient_id": f"PSEUDO-{scan:04d}", "candidate_id": f"C{len(rows):05d}",
                         "coordX": xyz[0], "coordY": xyz[1], "coordZ": xyz[2],
                         "label": int(labels[i]), "diameter_mm": diameter or np.nan,
                         "annotation_id": ann})
            if labels[i]:
                notes.append({"seriesuid": series, "coordX": xyz[0], "coordY": xyz[1],
                              "coordZ": xyz[2], "diameter_mm": max(diameter, 2.0),
                              "annotation_id": ann, "split": split})
        np.save(folder / f"{split}.npy", cubes)
    write_csv(folder / "index.csv", pd.DataFrame(rows))
    write_csv(folder / "annotations.csv", pd.DataFrame(notes))
    preprocess = {"spacing_mm": 1.0, "cube_size": cube_size, "slice_px": slice_px,
                  "hu_window": [-1000.0, 400.0], "hu_range": [-1024.0, 3071.0],
                  "interpolator": "linear", "axes": "zyx"}
    write_text(folder / "preprocess.json", json.dumps(preprocess, indent=2, sort_keys=True))
    return folder
