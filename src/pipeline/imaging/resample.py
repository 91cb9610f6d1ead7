"""Read a CT series as HU and resample it to an isotropic grid with the same direction and extent.

The output grid keeps the input's direction matrix and covers the same physical box: the outer
faces of the first and last voxels stay where they were (up to rounding of the new size to whole
voxels, which moves the far faces by at most half a new voxel). So the new origin (centre of voxel
0) is the old corner plus half a new voxel along each index axis:

    corner = origin - direction @ (old_spacing / 2)
    new_origin = corner + direction @ (new_spacing / 2)
    new_size = max(1, round(old_size * old_spacing / new_spacing))

Anti-aliasing: along every index axis whose new spacing is coarser than the old one, the image is
smoothed with a Gaussian before interpolation. Treating a voxel as a blur of FWHM one spacing, the
Gaussian brings the FWHM from ``old`` to ``new`` mm: ``sigma_mm = sqrt(new**2 - old**2) / 2.3548``.
Axes that are kept or upsampled are not smoothed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pipeline.errors import DicomReadError, InputError
from pipeline.hu import AIR_HU
from pipeline.imaging.geometry import Geometry

log = logging.getLogger(__name__)

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548
_INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}


def read_series_hu(files: Sequence[Path]) -> sitk.Image:
    """Read one series with ``sitk.ImageSeriesReader`` in the given (stack) order, as float32 HU.

    ``files`` must be in increasing position along the slice normal (the ingest order); the
    rescale slope/intercept (PS3.3 C.11.1.1.2) is applied by the reader.

    Raises:
        DicomReadError: when a file is missing or the reader fails.
    """
    names = [str(f) for f in files]
    if not names:
        raise DicomReadError("expected at least one DICOM file for the series, got none")
    missing = [n for n in names if not Path(n).is_file()]
    if missing:
        raise DicomReadError(f"{missing[0]}: file not found ({len(missing)} of {len(names)} "
                             "files of the series missing)")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    reader.SetOutputPixelType(sitk.sitkFloat32)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise DicomReadError(f"{names[0]}: SimpleITK could not read the series of "
                             f"{len(names)} files: {str(exc).strip().splitlines()[-1]}") from None
    return image


def read_image_hu(path: Path) -> sitk.Image:
    """Read one single-file volume (MetaImage ``.mhd`` + data file or ``.mha``, as LUNA16 ships
    its scans) as float32, values as stored (LUNA16's are HU), with its origin and direction.

    Raises:
        InputError: when the file is missing or SimpleITK cannot read it (e.g. its data file).
    """
    if not Path(path).is_file():
        raise InputError(f"{path}: file not found")
    try:
        return sitk.ReadImage(str(path), sitk.sitkFloat32)
    except RuntimeError as exc:
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise InputError(f"{path}: SimpleITK could not read the volume: "
                         f"{lines[-1] if lines else exc}") from None


def resampled_grid(geometry: Geometry, size_xyz: Sequence[int], spacing_mm: float
                   ) -> tuple[Geometry, tuple[int, int, int]]:
    """The isotropic output grid (geometry and ``(x, y, z)`` size) covering the same extent."""
    old_spacing = np.asarray(geometry.spacing)
    new_spacing = np.full(3, float(spacing_mm))
    extent_mm = np.asarray(size_xyz, dtype=np.float64) * old_spacing
    new_size = tuple(max(1, int(np.floor(e / spacing_mm + 0.5))) for e in extent_mm)
    corner = np.asarray(geometry.origin) - geometry.matrix @ (old_spacing / 2.0)
    new_origin = corner + geometry.matrix @ (new_spacing / 2.0)
    out = Geometry(origin=tuple(new_origin), spacing=tuple(new_spacing),  # type: ignore[arg-type]
                   direction=geometry.direction)
    return out, new_size  # type: ignore[return-value]


def anti_alias_sigmas_mm(old_spacing_mm: Sequence[float], new_spacing_mm: Sequence[float]
                         ) -> tuple[float, ...]:
    """Gaussian sigma (mm) per index axis before resampling; 0 where the axis is not downsampled."""
    return tuple(math.sqrt(new**2 - old**2) / FWHM_PER_SIGMA if new > old * (1 + 1e-6) else 0.0
                 for old, new in zip(old_spacing_mm, new_spacing_mm, strict=True))


def smooth_for_downsampling(image: sitk.Image, new_spacing_mm: Sequence[float]) -> sitk.Image:
    """Gaussian-smooth ``image`` (float32) only along the index axes being downsampled."""
    sigmas_mm = anti_alias_sigmas_mm(image.GetSpacing(), new_spacing_mm)
    if not any(sigmas_mm):
        return image
    array = sitk.GetArrayFromImage(image)  # (z, y, x): index axis c is array axis 2 - c
    for c, sigma_mm in enumerate(sigmas_mm):
        if sigma_mm > 0:
            sigma_px = sigma_mm / image.GetSpacing()[c]
            ndimage.gaussian_filter1d(array, sigma_px, axis=2 - c, output=array, mode="nearest")
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    return out


def to_int16_hu(values: np.ndarray, hu_range: Sequence[float]) -> np.ndarray:
    """Clip to ``hu_range`` and round half to even into int16 HU."""
    lo, hi = float(hu_range[0]), float(hu_range[1])
    clipped = np.clip(values, lo, hi)  # a new array: ``values`` may be a read-only view
    return np.rint(clipped, out=clipped).astype(np.int16)


def resample_image(image: sitk.Image, spacing_mm: float, interpolator: str = "linear",
                   hu_range: Sequence[float] = (-1024.0, 3071.0),
                   anti_alias: bool = True) -> sitk.Image:
    """Resample a HU image to ``spacing_mm`` isotropic: int16 HU, same direction and extent.

    Smooths first along downsampled axes when ``anti_alias``; interpolates with ``interpolator``
    (``linear`` or ``bspline``); values outside the input become air (-1000 HU); the result is
    clipped to ``hu_range``.
    """
    if interpolator not in _INTERPOLATORS:
        raise ValueError(f"interpolator must be one of {sorted(_INTERPOLATORS)}, "
                         f"got {interpolator!r}")
    geometry = Geometry.from_sitk(image)
    grid, size = resampled_grid(geometry, image.GetSize(), spacing_mm)
    source = sitk.Cast(image, sitk.sitkFloat32)
    if anti_alias:
        source = smooth_for_downsampling(source, grid.spacing)
    resampled = sitk.Resample(source, list(size), sitk.Transform(),
                              _INTERPOLATORS[interpolator], list(grid.origin),
                              list(grid.spacing), list(grid.direction), AIR_HU, sitk.sitkFloat32)
    out = sitk.GetImageFromArray(to_int16_hu(sitk.GetArrayViewFromImage(resampled), hu_range))
    grid.apply_to_sitk(out)
    return out


def write_volume(image: sitk.Image, path: Path) -> None:
    """Write ``image`` as compressed NIfTI (``.nii.gz``); gzip output carries no timestamp."""
    sitk.WriteImage(image, str(path), True)
