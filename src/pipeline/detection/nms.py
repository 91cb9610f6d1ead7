"""Greedy non-maximum suppression of blobs by distance, strongest first."""

from __future__ import annotations

import numpy as np


def suppress(points_mm: np.ndarray, radius_mm: np.ndarray, score: np.ndarray, factor: float,
             limit: int) -> np.ndarray:
    """Indices of the blobs kept, by decreasing score.

    A blob is dropped when a kept (stronger) one lies within ``factor * max(r_kept, r_blob)`` of
    it. At most ``limit`` are kept; ties in score keep the input order.

    Args:
        points_mm: ``(N, 3)`` positions in mm (any frame with mm units).
        radius_mm: ``(N,)`` blob radii.
        score: ``(N,)`` higher is stronger.
        factor: suppression distance in units of the larger radius (0: only exact duplicates).
        limit: maximum number kept.
    """
    order = np.argsort(-np.asarray(score), kind="stable")
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    rad = np.asarray(radius_mm, dtype=np.float64)
    n_max = min(limit, len(order))
    kept = np.zeros(n_max, dtype=np.intp)
    kept_pts = np.zeros((n_max, 3))
    kept_r = np.zeros(n_max)
    n = 0
    for i in order:
        if n >= n_max:
            break
        d = np.sqrt(((kept_pts[:n] - pts[i]) ** 2).sum(axis=1))
        if np.any(d <= factor * np.maximum(kept_r[:n], rad[i])):
            continue
        kept[n], kept_pts[n], kept_r[n] = i, pts[i], rad[i]
        n += 1
    return kept[:n]
