"""Axial, coronal and sagittal views of one finding, in a lung window, the finding circled.

Views are cut from the volume turned to LPS axes (``DICOMOrient``), shown in world millimetres in
the radiological convention: patient's right on the image's left, anterior up on the axial view,
head up on the coronal and sagittal views. The circle has the finding's estimated diameter.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402

LUNG_WINDOW_HU = (-1350.0, 150.0)  # level -600, width 1500
HALF_FIELD_MM = 60.0  # each view shows this far around the finding
DPI = 80


def to_lps(volume: sitk.Image) -> sitk.Image:
    """The volume resampled-free onto LPS-aligned index axes (a flip/permutation)."""
    return sitk.DICOMOrient(volume, "LPS")


def finding_views(volume_lps: sitk.Image, center_mm: tuple[float, float, float]
                  ) -> list[tuple[str, np.ndarray, tuple[float, float, float, float],
                                  tuple[float, float]]]:
    """``(name, image, extent, circle centre)`` of the three views; extents in world mm for
    ``imshow(origin="upper")``: ``(left, right, bottom, top)``."""
    a = sitk.GetArrayViewFromImage(volume_lps)  # (z, y, x), increasing world x, y, z
    origin = np.asarray(volume_lps.GetOrigin())
    spacing = np.asarray(volume_lps.GetSpacing())
    idx = np.clip(np.round((np.asarray(center_mm) - origin) / spacing).astype(int), 0,
                  np.asarray(volume_lps.GetSize()) - 1)
    x0, y0, z0 = origin - spacing / 2
    x1, y1, z1 = origin + spacing * (np.asarray(volume_lps.GetSize()) - 0.5)
    cx, cy, cz = center_mm
    return [
        # rows: y increasing (anterior at top), columns: x increasing (patient right at left)
        ("axial", np.asarray(a[idx[2]]), (x0, x1, y1, y0), (cx, cy)),
        # rows: z decreasing (head at top)
        ("coronal", np.asarray(a[::-1, idx[1], :]), (x0, x1, z0, z1), (cx, cz)),
        ("sagittal", np.asarray(a[::-1, :, idx[0]]), (y0, y1, z0, z1), (cy, cz)),
    ]


def save_finding_png(volume_lps: sitk.Image, center_mm: tuple[float, float, float],
                     diameter_mm: float, title: str, path: Path) -> None:
    """Write the three views of one finding as a PNG (atomically)."""
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.4), dpi=DPI)
    for ax, (name, image, extent, (u, v)) in zip(axes, finding_views(volume_lps, center_mm),
                                                strict=True):
        ax.imshow(image, cmap="gray", vmin=LUNG_WINDOW_HU[0], vmax=LUNG_WINDOW_HU[1],
                  extent=extent, origin="upper", interpolation="bilinear")
        ax.add_patch(Circle((u, v), max(diameter_mm / 2, 2.0) + 2.0, fill=False, color="#ffcc00",
                            linewidth=1.5))
        ax.set_xlim(u - HALF_FIELD_MM, u + HALF_FIELD_MM)
        lo, hi = sorted((v - HALF_FIELD_MM, v + HALF_FIELD_MM))
        ax.set_ylim((hi, lo) if name == "axial" else (lo, hi))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
