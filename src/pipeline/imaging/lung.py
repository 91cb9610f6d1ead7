"""A simple lung mask: low-density air inside the body, for candidate sampling and QC.

Method (threshold + connected components, no learning):
1. air = voxels below ``threshold_hu`` (-400 HU by default), in slices that hold some tissue: a
   slice that is air everywhere (past the end of the scan, which resampling pads with air) would
   join the lungs to the air around the patient and lose them;
2. drop air components touching the in-plane border of any slice (array axes 1 and 2: the air
   around the patient); the first and last slices are not "border", so lungs cut by the scan range
   are kept;
3. keep the largest component and the second largest if it has at least ``second_fraction`` of the
   largest's volume (two lungs; bowel gas or a trachea fragment is smaller);
4. fill holes slice by slice (vessels and nodules inside the lung belong to it).

Connectivity is 6-neighbour (faces) in 3D. Works on the ``(z, y, x)`` array of a volume whose
index axis k is the slice axis (as every series read from DICOM is, whatever its direction).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LUNG_THRESHOLD_HU = -400.0
SECOND_LUNG_MIN_FRACTION = 0.1


def lung_mask(volume_hu: np.ndarray, threshold_hu: float = LUNG_THRESHOLD_HU,
              second_fraction: float = SECOND_LUNG_MIN_FRACTION) -> np.ndarray:
    """uint8 mask (1 = lung) of a ``(z, y, x)`` HU volume; all zeros when no lung is found."""
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (z, y, x) volume, got shape {volume_hu.shape}")
    air = volume_hu < threshold_hu
    padding = np.asarray(air.all(axis=(1, 2)))  # no tissue in the slice: padding, not lung
    air &= ~padding[:, None, None]
    labels, n = ndimage.label(air)
    if n == 0:
        return np.zeros(volume_hu.shape, dtype=np.uint8)
    border = _border_labels(labels, n)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    sizes[border] = 0
    order = np.argsort(-sizes, kind="stable")
    keep = [int(order[0])] if sizes[order[0]] > 0 else []
    if keep and n > 1:
        second = sizes[order[1]]
        if second > 0 and second >= second_fraction * sizes[keep[0]]:
            keep.append(int(order[1]))
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep] = True
    mask = lut[labels]
    return fill_holes_in_plane(mask).astype(np.uint8)


def _border_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """(n + 1,) bool: labels present on the in-plane border (array axes 1 and 2) of any slice."""
    border = np.zeros(n + 1, dtype=bool)
    for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        border[np.unique(face)] = True
    return border


def fill_holes_in_plane(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a ``(z, y, x)`` bool mask slice by slice (4-connected background).

    Same result as ``ndimage.binary_fill_holes`` with an in-plane structure, by labelling the
    background once: background components that do not reach a slice's border are holes.
    """
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(~mask, structure=in_plane)
    outside = _border_labels(labels, n)
    outside[0] = False  # label 0: the mask itself
    return ~outside[labels]
