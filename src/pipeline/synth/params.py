"""``synthesize:`` of ``params.yaml``: the synthetic cohort (shapes: ``synth/profiles.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import Section, bounds
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class SynthesizeParams(Section):
    """The synthetic cohort written by :func:`pipeline.synth.cohort.cohort`."""

    SECTION = "synthesize"

    seed: int
    profile: Literal["tiny", "small", "realistic"]
    n_patients: int = bounds(1)
    nodules_per_patient: tuple[int, int] = bounds(0, ordered=True)
    nodule_diameter_mm: tuple[float, float] = bounds(0, lo_open=True, ordered=True)
    negatives_per_nodule: float = bounds(0)
    hard_negative_fraction: float = bounds(0, 1)
    rle_fraction: float = bounds(0, 1)
    implicit_vr_fraction: float = bounds(0, 1)
    feet_first_fraction: float = bounds(0, 1)
    prone_fraction: float = bounds(0, 1)
    split_study_fraction: float = bounds(0, 1)
    second_series_fraction: float = bounds(0, 1)
    jobs: int = bounds(1)

    def check(self, prefix: str) -> None:
        if self.rle_fraction + self.implicit_vr_fraction > 1:
            raise ConfigError(f"{prefix}.rle_fraction + {prefix}.implicit_vr_fraction must be "
                              f"<= 1, got {self.rle_fraction + self.implicit_vr_fraction}")
