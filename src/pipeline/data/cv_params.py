"""``cv:`` of ``params.yaml``: patient-level k-fold cross-validation (the LUNA16 protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import Section, bounds
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class CvParams(Section):
    """Patient-level k-fold cross-validation (LUNA16 protocol): folds, inner validation."""

    SECTION = "cv"

    folds: int = bounds(2)
    fold_ids: tuple[int, ...] = bounds(0)
    seed: int = bounds()
    inner_val: float = bounds(0, 0.5, lo_open=True)
    # patient: deal patients to folds (pipeline.data.folds); subset: the fold of a scan is its
    # LUNA16 subset number (the subsetN/ folder of a MetaImage input), as LUNA16's 10 folds
    folds_from: Literal["patient", "subset"] = "patient"

    def check(self, prefix: str) -> None:
        if tuple(self.fold_ids) != tuple(range(self.folds)):
            raise ConfigError(f"{prefix}.fold_ids must list 0..{self.folds - 1} (dvc.yaml runs "
                              f"one train stage per entry), got {list(self.fold_ids)}")
