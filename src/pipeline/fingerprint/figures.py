"""The data card's PNGs: one distribution per figure, the baseline version dashed beside it.

Same reproducibility rules as :mod:`pipeline.evaluation.figures`: fixed size and dpi, matplotlib's
default style whatever the user's matplotlibrc says, no software metadata in the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.errors import PlotDataError
from pipeline.io import write_bytes

DPI = 100
CURRENT_STYLE: dict[str, Any] = {"color": "#1f4e99", "linestyle": "-"}
BASELINE_STYLE: dict[str, Any] = {"color": "#d95f02", "linestyle": "--"}


def distribution_figure(table: pd.DataFrame, x: str, path: str | Path, *, title: str,
                        x_label: str, baseline: pd.DataFrame | None = None,
                        label: str = "this version", baseline_label: str = "baseline") -> Path:
    """Write the ``fraction`` per bin of ``table`` (column ``x``) as a step plot with markers."""
    series = [(label, table, CURRENT_STYLE)]
    if baseline is not None and not baseline.empty:
        series.append((baseline_label, baseline, BASELINE_STYLE))
    for name, t, _ in series:
        missing = [c for c in (x, "fraction") if c not in t.columns]
        if missing:
            raise PlotDataError(f"{title} ({name}): expected columns {[x, 'fraction']}, "
                                f"missing {missing}")
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(5.0, 3.2), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for name, t, style in series:
            if t.empty:
                continue
            order = np.argsort(t[x].to_numpy(dtype=float), kind="stable")
            xs = t[x].to_numpy(dtype=float)[order]
            ys = t["fraction"].to_numpy(dtype=float)[order]
            ax.plot(xs, ys, drawstyle="steps-mid", marker="o", markersize=3, linewidth=1.6,
                    label=name, **style)
        if all(t.empty for _, t, _ in series):
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=title, xlabel=x_label, ylabel="fraction")
        ax.set_ylim(bottom=0)
        ax.grid(True, color="0.9")
        if len(series) > 1:
            ax.legend(loc="best", fontsize=8)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    write_bytes(path, buf.getvalue())
    return Path(path)
