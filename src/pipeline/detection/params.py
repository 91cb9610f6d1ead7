"""``candidates:`` of ``params.yaml``: every threshold of the candidate generator, validated.

The section is read on its own (:func:`load_candidate_params`), so a typo elsewhere in
``params.yaml`` does not stop this stage and a typo here names ``candidates.<key>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from pipeline.config import Section, bounds, convert, read_yaml
from pipeline.errors import ConfigError

SECTION = "candidates"


@dataclass(frozen=True)
class CandidateParams(Section):
    """Parameters of :func:`pipeline.detection.candidates.generate_candidates` (HU, mm).

    Attributes:
        lung_threshold_hu: air below this is lung (the resample stage's lung mask rule).
        lung_closing_mm: radius of the 3D closing of each lung, so nodules on the pleura (up to
            twice this diameter) stay inside the mask.
        mask_spacing_mm: grid on which the lung mask is closed (coarser is faster).
        radius_mm: smallest and largest nodule radius searched (3-30 mm spheres: [1.5, 15]).
        scales: number of blob scales, geometric between the two radii.
        hu_clip: HU range the blob filter sees; brighter tissue (bone) counts as its top.
        solid_hu: a blob whose centre voxel is at least this dense is "solid", else
            "sub-solid" (ground glass).
        subsolid_hu: a blob whose smoothed centre is below this is not a nodule (air, noise).
        min_response_hu: weakest scale-normalised LoG peak (about 0.9 x the contrast of a
            sphere, HU) looked at.
        min_contrast_hu: smallest blob contrast over the lung background (HU) kept.
        min_blob_ratio: smallest ratio weakest / strongest curvature (Hessian eigenvalues) kept:
            1 for a sphere, 0 for a vessel (tube) or the pleura (sheet).
        subsolid_weight: score multiplier of sub-solid blobs (their contrast is lower).
        scale_exponent: the score grows as ``radius_mm ** scale_exponent`` (small vessel
            crossings outnumber small nodules).
        nms_factor: a blob within ``nms_factor`` times the larger radius of a stronger one is
            dropped.
        max_candidates: at most this many candidates per scan, highest score first.
        jobs: scans processed in parallel by the stage.
    """

    SECTION = "candidates"

    lung_threshold_hu: float
    lung_closing_mm: float = bounds(0)
    mask_spacing_mm: float = bounds(0, lo_open=True)
    radius_mm: tuple[float, float] = bounds(0, lo_open=True, ordered=True)
    scales: int = bounds(1)
    hu_clip: tuple[float, float] = bounds(ordered=True, strict=True)
    solid_hu: float = bounds()
    subsolid_hu: float = bounds()
    min_response_hu: float = bounds(0)
    min_contrast_hu: float = bounds(0)
    min_blob_ratio: float = bounds(0, 1)
    subsolid_weight: float = bounds(0, lo_open=True)
    scale_exponent: float = bounds(0)
    nms_factor: float = bounds(0)
    max_candidates: int = bounds(1)
    jobs: int = bounds(1)

    def check(self, prefix: str) -> None:
        if self.subsolid_hu > self.solid_hu:
            raise ConfigError(f"{prefix}.subsolid_hu must be <= solid_hu, got "
                              f"{self.subsolid_hu} > {self.solid_hu}")

    @classmethod
    def from_mapping(cls, mapping: Any, source: str = SECTION) -> CandidateParams:
        """Build from a ``candidates:`` mapping; unknown, missing or ill-typed keys are errors."""
        try:
            return convert(SECTION, cls, mapping)  # type: ignore[no-any-return]
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


@overload
def load_candidate_params(path: str | Path) -> CandidateParams: ...
@overload
def load_candidate_params(path: str | Path, required: bool) -> CandidateParams | None: ...


def load_candidate_params(path: str | Path, required: bool = True) -> CandidateParams | None:
    """Read the ``candidates:`` section of a params file (None if absent and not required)."""
    raw = read_yaml(path)
    if SECTION not in raw:
        if not required:
            return None
        raise ConfigError(f"{path}: expected a '{SECTION}:' section")
    return CandidateParams.from_mapping(raw[SECTION], str(path))


DEFAULTS = Path(__file__).with_name("defaults.yaml")


def default_candidate_params() -> CandidateParams:
    """The repository's defaults (``defaults.yaml`` beside this module), for use without
    ``params.yaml`` (predict on a new folder)."""
    return load_candidate_params(DEFAULTS)
