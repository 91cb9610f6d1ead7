"""Fixtures for tests/export (helpers in export_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from export_helpers import write_series

from pipeline.export.params import ExportParams


@pytest.fixture
def export_params() -> ExportParams:
    return ExportParams(opset=17, parity_atol=1e-4, large_batch=16, parity_samples=64)


@pytest.fixture
def dicom_series(tmp_path: Path) -> Callable[..., list[Path]]:
    """``make(folder_name, series_uid) -> files in stack order`` writing under ``tmp_path``."""

    def make(name: str = "scan", series_uid: str = "1.2.826.0.1.3680043.8.498.1") -> list[Path]:
        return write_series(tmp_path / name, series_uid)

    return make
