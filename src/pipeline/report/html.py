"""``index.html``: one self-contained page (no scripts, no internet) listing the findings."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PageFinding:
    seriesuid: str
    rank: int
    center_mm: tuple[float, float, float]
    diameter_mm: float
    probability: float
    png: str  # relative path


@dataclass(frozen=True)
class PageSeries:
    seriesuid: str
    status: str  # "scored" or why not
    candidates: int
    sr_file: str


def render_page(series: Sequence[PageSeries], findings: Sequence[PageFinding],
                threshold: float | None, model: str) -> str:
    """The HTML text of the report."""
    esc = html.escape
    thr = "not set" if threshold is None else f"{threshold:.3f}"
    rows = "\n".join(
        f"<tr><td>{esc(s.seriesuid)}</td><td>{esc(s.status)}</td><td>{s.candidates}</td>"
        f"<td>{sum(f.seriesuid == s.seriesuid for f in findings)}</td>"
        f"<td>{esc(s.sr_file) or '-'}</td></tr>" for s in series)
    blocks = "\n".join(
        f"<section><h3>Series {esc(f.seriesuid)} &middot; finding {f.rank}: probability "
        f"{f.probability:.3f}, about {f.diameter_mm:.0f} mm</h3>"
        f"<p>Location (world mm, LPS): x = {f.center_mm[0]:.1f}, y = {f.center_mm[1]:.1f}, "
        f"z = {f.center_mm[2]:.1f}</p>"
        f'<img src="{esc(f.png)}" alt="axial, coronal and sagittal views of finding {f.rank}">'
        f"</section>" for f in findings)
    none = "" if findings else "<p>No finding at or above the operating threshold.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Lung nodule findings</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:0.2em 0.6em}}img{{max-width:100%}}</style></head>
<body><h1>Lung nodule findings</h1>
<p>Model: {esc(model)}; operating threshold: {thr}. Research use only: the findings are a
classifier's output, not a diagnosis.</p>
<table><tr><th>series</th><th>status</th><th>candidates</th><th>findings</th><th>DICOM SR</th></tr>
{rows}
</table>
{none}
{blocks}
</body></html>
"""
