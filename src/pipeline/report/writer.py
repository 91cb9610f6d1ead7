"""Write a predict report: ``index.html``, one PNG per finding and one DICOM SR per series.

A finding is a scored candidate at or above the model's operating threshold (all scored
candidates when the model has none). One series gives ``sr.dcm``; several give ``sr_<n>.dcm``
(n = 1.. in series order). A series without findings gets an SR that states "no nodule
detected" (``pipeline.report.sr``), and the page says so; a rejected series gets none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
import pydicom
import SimpleITK as sitk
from pydicom.uid import generate_uid

from pipeline.io import atomic_path, write_text
from pipeline.report.figures import save_finding_png, to_lps
from pipeline.report.html import PageFinding, PageSeries, render_page
from pipeline.report.sr import Finding, build_sr

log = logging.getLogger(__name__)
logging.getLogger("highdicom").setLevel(logging.WARNING)  # one INFO line per copied module

COORDS = ["coordX", "coordY", "coordZ"]


class SeriesLike(Protocol):
    seriesuid: str
    files: list[Path]
    volume: sitk.Image | None
    table: pd.DataFrame


@dataclass(frozen=True)
class ReportFiles:
    index: Path
    pngs: list[Path]
    srs: list[Path]


def findings_of(table: pd.DataFrame, threshold: float | None) -> pd.DataFrame:
    """Scored rows at or above ``threshold`` (all scored rows without one), most probable first."""
    scored = table[table["status"] == "scored"]
    if threshold is not None:
        scored = scored[scored["probability"] >= threshold]
    return scored.sort_values("probability", ascending=False, kind="stable")


def write_report(series: Sequence[SeriesLike], threshold: float | None, report_dir: Path,
                 model: str = "model.onnx") -> ReportFiles:
    """Write the report of ``series`` into ``report_dir`` (created if needed)."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    usable = [s for s in series if s.volume is not None]
    pngs: list[Path] = []
    srs: list[Path] = []
    page_series: list[PageSeries] = []
    page_findings: list[PageFinding] = []
    for n, s in enumerate(series, start=1):
        status = "; ".join(sorted(set(s.table["status"].astype(str))))
        shift = sorted(set(s.table.get("shift", pd.Series(dtype=str)).astype(str)) - {""})
        if shift:  # predict's shift check: the series lies outside the training data
            status += "; outside the training data: " + "; ".join(shift)
        n_cand = int((s.table["status"] == "scored").sum())
        if s.volume is None:
            page_series.append(PageSeries(s.seriesuid, status, n_cand, ""))
            continue
        rows = findings_of(s.table, threshold)
        volume_lps = to_lps(s.volume)
        findings = []
        for rank, r in enumerate(rows.itertuples(index=False), start=1):
            center = (float(r.coordX), float(r.coordY), float(r.coordZ))
            png = out / f"finding_{n}_{rank}.png"
            save_finding_png(volume_lps, center, float(r.diameter_mm),
                             f"p = {float(r.probability):.3f}, about {float(r.diameter_mm):.0f} mm"
                             f" at ({center[0]:.0f}, {center[1]:.0f}, {center[2]:.0f}) mm LPS",
                             png)
            pngs.append(png)
            findings.append(Finding(center, float(r.diameter_mm), float(r.probability)))
            page_findings.append(PageFinding(s.seriesuid, rank, center, float(r.diameter_mm),
                                             float(r.probability), png.name))
        sr_path = out / ("sr.dcm" if len(usable) == 1 else f"sr_{n}.dcm")
        write_sr(s, findings, threshold, sr_path)
        srs.append(sr_path)
        page_series.append(PageSeries(s.seriesuid, status, n_cand, sr_path.name))
    index = out / "index.html"
    write_text(index, render_page(page_series, page_findings, threshold, model))
    return ReportFiles(index=index, pngs=pngs, srs=srs)


def write_sr(series: SeriesLike, findings: Sequence[Finding], threshold: float | None,
             path: Path) -> None:
    """Build and write the SR of one series; its UIDs derive from the series and findings."""
    source = [pydicom.dcmread(f, stop_before_pixels=True) for f in series.files]
    seed = [series.seriesuid, *(f"{v:.3f}" for f in findings
                                for v in (*f.center_mm, f.probability))]
    sr = build_sr(source, findings,
                  series_instance_uid=generate_uid(entropy_srcs=[*seed, "series"]),
                  sop_instance_uid=generate_uid(entropy_srcs=[*seed, "sop"]),
                  threshold=threshold)
    with atomic_path(path, suffix=".dcm") as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    log.info("wrote %s (%d findings)", path, len(findings))
