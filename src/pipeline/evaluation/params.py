"""``evaluate:`` of ``params.yaml``: the bootstrap and the montage."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Section, bounds


@dataclass(frozen=True)
class EvaluateParams(Section):
    """Patient-bootstrap resamples (0 = no intervals), its seed, montage size per group."""

    SECTION = "evaluate"

    bootstrap: int = bounds(0)
    seed: int = bounds()
    montage_per_group: int = bounds(0)
