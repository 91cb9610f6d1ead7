"""Helpers of the synth tests (a uniquely named module: every test folder has a conftest)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from pipeline.synth.params import SynthesizeParams

TINY_Z_EXTENT_MM = 40.0


def tiny_params(**changes: object) -> SynthesizeParams:
    """Params of a 2-patient cohort where every variant (RLE, implicit VR, feet-first, prone,
    split study, second series) occurs at least once."""
    base = SynthesizeParams(
        seed=11, profile="small", n_patients=2, nodules_per_patient=(3, 4),
        nodule_diameter_mm=(8.0, 16.0), negatives_per_nodule=4.0, hard_negative_fraction=0.6,
        rle_fraction=0.5, implicit_vr_fraction=0.5, feet_first_fraction=0.5,
        prone_fraction=0.5, split_study_fraction=0.5, second_series_fraction=0.5, jobs=1)
    return dataclasses.replace(base, **changes)


def file_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
