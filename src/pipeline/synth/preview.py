"""``reports/cohort_preview.png``: axial and coronal lung-window slices through a nodule per
patient, every nodule circled at its annotated size. Deterministic PNG (no timestamp metadata)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from pipeline.synth.cohort import Preview

LUNG_WINDOW_HU = (-1350.0, 150.0)  # level -600, width 1500


def _extent(axis_h: np.ndarray, axis_v: np.ndarray) -> tuple[float, float, float, float]:
    dh, dv = axis_h[1] - axis_h[0], (axis_v[1] - axis_v[0]) if len(axis_v) > 1 else 1.0
    return (axis_h[0] - dh / 2, axis_h[-1] + dh / 2, axis_v[-1] + dv / 2, axis_v[0] - dv / 2)


def save_preview(previews: list[Preview], path: str | Path, max_patients: int = 4) -> None:
    """Plot up to ``max_patients`` previews (axial | coronal per row) to ``path`` (PNG)."""
    shown = previews[:max_patients]
    rows = max(len(shown), 1)
    fig = Figure(figsize=(8, 3.6 * rows), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 2, squeeze=False)
    lo, hi = LUNG_WINDOW_HU
    for row, pv in zip(axes, shown, strict=False):
        cx, cy, cz = pv.nodule.center_mm
        row[0].imshow(pv.axial_hu, cmap="gray", vmin=lo, vmax=hi,
                      extent=_extent(pv.x_mm, pv.y_mm), interpolation="nearest")
        coronal_extent = _extent(pv.x_mm, pv.z_mm)
        row[1].imshow(pv.coronal_hu[::-1], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest",
                      extent=(coronal_extent[0], coronal_extent[1], coronal_extent[3],
                              coronal_extent[2]))
        for n in pv.nodules:
            r = n.diameter_mm / 2
            for ax, (h, v), depth in ((row[0], (0, 1), abs(n.center_mm[2] - cz)),
                                      (row[1], (0, 2), abs(n.center_mm[1] - cy))):
                if depth < r:
                    ax.add_patch(Circle((n.center_mm[h], n.center_mm[v]), np.sqrt(r**2 - depth**2),
                                        fill=False, color="yellow", linewidth=1.0))
        row[0].set_title(f"patient {pv.patient_index}: axial z={cz:.1f} mm\n"
                         f"{pv.nodule.diameter_mm:.1f} mm {pv.nodule.texture} "
                         f"{pv.nodule.location}", fontsize=8)
        row[1].set_title(f"coronal y={cy:.1f} mm", fontsize=8)
        for ax in row:
            ax.tick_params(labelsize=6)
        row[0].set_xlabel("x (mm, patient left ->)", fontsize=7)
        row[1].set_xlabel("x (mm)", fontsize=7)
        row[1].set_ylabel("z (mm, head ^)", fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(path), format="png", metadata={"Software": None})
