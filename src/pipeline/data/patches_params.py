"""``patches:`` of ``params.yaml``: the cubes cut around every candidate."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Section, bounds


@dataclass(frozen=True)
class PatchesParams(Section):
    """The cubes cut around every candidate (``pipeline.data.patches``)."""

    SECTION = "patches"

    cube_mm: float = bounds(0, lo_open=True)
    merge_distance_mm: float = bounds(0)
    jobs: int = bounds(1)
