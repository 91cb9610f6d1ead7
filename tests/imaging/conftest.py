"""Fixtures of the imaging tests (phantom builders live in imaging_phantoms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaging_phantoms import write_cohort

from pipeline.imaging.params import ResampleParams


@pytest.fixture
def resample_params() -> ResampleParams:
    return ResampleParams(spacing_mm=1.0, interpolator="linear", hu_range=(-1024.0, 3071.0),
                          anti_alias=True, lung_mask=True, jobs=1)


@pytest.fixture
def anon_dir(tmp_path: Path) -> Path:
    """An anonymize-style folder: dicom/, series.csv, candidates.csv, annotations.csv."""
    return write_cohort(tmp_path / "anonymized")
