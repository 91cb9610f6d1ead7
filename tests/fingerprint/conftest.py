"""Fixtures for tests/fingerprint: two synthetic cohorts that differ, fingerprinted once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fingerprint_helpers import build_fingerprint, cohort_params  # noqa: E402


@pytest.fixture(scope="module")
def two_cohorts(tmp_path_factory):
    """``(root_a, fp_a, root_b, fp_b)``: seed 11 one series per patient; seed 12 with a second,
    sharp-kernel reconstruction of every patient."""
    a = tmp_path_factory.mktemp("cohort_a")
    b = tmp_path_factory.mktemp("cohort_b")
    return (a, build_fingerprint(a, cohort_params(11, 0.0)),
            b, build_fingerprint(b, cohort_params(12, 1.0)))
