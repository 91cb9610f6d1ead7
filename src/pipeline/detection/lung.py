"""The lung mask closed per lung, so nodules on the pleura stay inside it.

``pipeline.imaging.lung.lung_mask`` keeps the air inside the body; a solid nodule touching the
chest wall is not air and leaves a dent in it. A morphological closing (dilation then erosion by
a ball) of each lung on its own fills dents narrower than the ball without bridging the
mediastinum. The closing runs on a coarser grid (``mask_spacing_mm``) with Euclidean distance
transforms, then the result is brought back to the volume's grid and joined with the fine mask.

Before the lungs are picked, the air that reaches the in-plane border within its own slice (the
air around the patient) is taken out slice by slice. Otherwise one slice with no body in it (the
resampler's padding past the scan's end, an empty slice at the edge of the scan range) joins both
lungs to the outside air in 3D and ``lung_mask`` drops them as air around the patient.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.imaging.lung import fill_holes_in_plane, lung_mask


def closed_lung_mask(volume_hu: np.ndarray, spacing_mm: tuple[float, float, float],
                     threshold_hu: float, closing_mm: float, mask_spacing_mm: float
                     ) -> np.ndarray:
    """bool ``(z, y, x)`` mask of the lungs, each closed by a ball of radius ``closing_mm``.

    The lungs are found on a grid of about ``mask_spacing_mm`` where a coarse voxel is air only
    when all its voxels are: a chest wall one voxel thin (or a noisy one) then still separates
    the lungs from the air around the patient. The coarse mask is closed lung by lung, brought
    back to the volume's grid and joined with the air of the coarse voxels along its edge.

    Args:
        volume_hu: ``(z, y, x)`` HU volume.
        spacing_mm: voxel size along ``(z, y, x)``.
        threshold_hu: air below this is lung.
        closing_mm: radius of the closing ball (0: no closing).
        mask_spacing_mm: grid spacing on which the lungs are found and closed.
    """
    step = tuple(max(1, int(round(mask_spacing_mm / s))) for s in spacing_mm)
    densest = _block_max(np.asarray(volume_hu), step)
    # air around the patient, slice by slice, counts as wall: it cannot join the lungs across z
    densest = np.where(outside_air_in_plane(densest < threshold_hu), threshold_hu, densest)
    coarse = lung_mask(densest, threshold_hu).astype(bool)
    if not coarse.any():
        return np.zeros(volume_hu.shape, dtype=bool)
    coarse_mm = tuple(s * k for s, k in zip(spacing_mm, step, strict=True))
    if closing_mm > 0:
        labels, _ = ndimage.label(coarse)
        closed = np.zeros_like(coarse)
        for lab, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is not None:
                closed |= _close_component(labels == lab, box, coarse_mm, closing_mm)
        coarse = fill_holes_in_plane(closed)
    grown = ndimage.binary_dilation(coarse, ndimage.generate_binary_structure(3, 1))
    air = np.asarray(volume_hu) < threshold_hu
    # the closed coarse mask, plus the air of the partly-air blocks at its edge (not the wall)
    return _upsample(coarse, step, air.shape) | (_upsample(grown, step, air.shape) & air)


def outside_air_in_plane(air: np.ndarray) -> np.ndarray:
    """bool ``(z, y, x)``: the voxels of ``air`` 4-connected, within their slice, to its border."""
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(air, structure=in_plane)
    outside = np.zeros(n + 1, dtype=bool)
    for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        outside[np.unique(face)] = True
    outside[0] = False  # label 0: not air
    return outside[labels]


def _upsample(mask: np.ndarray, step: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Repeat each coarse voxel ``step`` times per axis and crop to ``shape``."""
    up = mask
    for axis, k in enumerate(step):
        up = np.repeat(up, k, axis=axis)
    return np.ascontiguousarray(up[: shape[0], : shape[1], : shape[2]])


def _block_max(volume: np.ndarray, step: tuple[int, ...]) -> np.ndarray:
    """Downsample by ``step`` voxels per axis, keeping each block's maximum (edge-padded)."""
    pad = [(0, (-n) % k) for n, k in zip(volume.shape, step, strict=True)]
    v = np.pad(volume, pad, mode="edge")
    shape: list[int] = []
    for n, k in zip(v.shape, step, strict=True):
        shape += [n // k, k]
    return v.reshape(shape).max(axis=(1, 3, 5))


def _close_component(component: np.ndarray, box: tuple[slice, ...],
                     spacing_mm: tuple[float, ...], radius_mm: float) -> np.ndarray:
    """Closing of one component inside its bounding box padded by the radius."""
    pad = [int(np.ceil(radius_mm / s)) + 1 for s in spacing_mm]
    lo = [max(0, b.start - p) for b, p in zip(box, pad, strict=True)]
    hi = [min(n, b.stop + p) for b, n, p in zip(box, component.shape, pad, strict=True)]
    crop = component[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    # pad with background so the dilation is not cut by the volume's edge
    crop = np.pad(crop, [(p, p) for p in pad])
    dilated = ndimage.distance_transform_edt(~crop, sampling=spacing_mm) <= radius_mm
    eroded = ndimage.distance_transform_edt(dilated, sampling=spacing_mm) > radius_mm
    inner = eroded[tuple(slice(p, -p) for p in pad)]
    out = np.zeros_like(component)
    out[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = inner
    return out
