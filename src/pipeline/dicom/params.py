"""``ingest:`` of ``params.yaml``: what makes a series usable (``pipeline.dicom.validate``)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Section, bounds


@dataclass(frozen=True)
class IngestParams(Section):
    """Tolerances of the series checks and the smallest usable series."""

    SECTION = "ingest"

    spacing_rtol: float = bounds(0, 1, lo_open=True)
    position_tol_mm: float = bounds(0, lo_open=True)
    orientation_tol: float = bounds(0, 1, lo_open=True)
    allow_gantry_tilt: bool = bounds()
    max_tilt_deg: float = bounds(0, 45)
    min_slices: int = bounds(2)
    jobs: int = bounds(1)
