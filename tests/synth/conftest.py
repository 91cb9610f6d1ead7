"""Tiny synthetic cohorts for the synth tests: 2 patients, a 40 mm slab, every variant present."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_helpers import TINY_Z_EXTENT_MM, tiny_params

from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import CohortResult, synthesize_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CohortResult]:
    """(output folder, result with the written HU volumes) of the tiny cohort."""
    out = tmp_path_factory.mktemp("synth") / "cohort"
    result = synthesize_cohort(out, tiny_params(), ExecutorParams(jobs=1),
                               z_extent_mm=TINY_Z_EXTENT_MM, keep_volumes=True)
    return out, result
