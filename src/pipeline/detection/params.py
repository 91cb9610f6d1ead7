"""``candidates:`` of ``params.yaml``: every threshold of the candidate generator, validated.

The section is read on its own (:func:`load_candidate_params`), so a typo elsewhere in
``params.yaml`` does not stop this stage and a typo here names ``candidates.<key>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, overload

import yaml

from pipeline.errors import ConfigError

SECTION = "candidates"


@dataclass(frozen=True)
class CandidateParams:
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

    lung_threshold_hu: float
    lung_closing_mm: float
    mask_spacing_mm: float
    radius_mm: tuple[float, float]
    scales: int
    hu_clip: tuple[float, float]
    solid_hu: float
    subsolid_hu: float
    min_response_hu: float
    min_contrast_hu: float
    min_blob_ratio: float
    subsolid_weight: float
    scale_exponent: float
    nms_factor: float
    max_candidates: int
    jobs: int

    def __post_init__(self) -> None:
        for f in fields(self):
            values = getattr(self, f.name)
            for v in values if isinstance(values, tuple) else (values,):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"{SECTION}.{f.name} must be a finite number, got {values!r}")
        _positive("lung_closing_mm", self.lung_closing_mm, zero_ok=True)
        _positive("mask_spacing_mm", self.mask_spacing_mm)
        _positive("radius_mm", self.radius_mm[0])
        _ordered("radius_mm", self.radius_mm)
        _ordered("hu_clip", self.hu_clip, strict=True)
        if self.scales < 1:
            raise ConfigError(f"{SECTION}.scales must be >= 1, got {self.scales}")
        if self.subsolid_hu > self.solid_hu:
            raise ConfigError(f"{SECTION}.subsolid_hu must be <= solid_hu, got "
                              f"{self.subsolid_hu} > {self.solid_hu}")
        _positive("min_response_hu", self.min_response_hu, zero_ok=True)
        _positive("min_contrast_hu", self.min_contrast_hu, zero_ok=True)
        _positive("scale_exponent", self.scale_exponent, zero_ok=True)
        if not 0.0 <= self.min_blob_ratio <= 1.0:
            raise ConfigError(f"{SECTION}.min_blob_ratio must be in [0, 1], got "
                              f"{self.min_blob_ratio}")
        _positive("subsolid_weight", self.subsolid_weight)
        _positive("nms_factor", self.nms_factor, zero_ok=True)
        if self.max_candidates < 1:
            raise ConfigError(f"{SECTION}.max_candidates must be >= 1, got {self.max_candidates}")
        if self.jobs < 1:
            raise ConfigError(f"{SECTION}.jobs must be >= 1, got {self.jobs}")

    @classmethod
    def from_mapping(cls, mapping: Any, source: str = SECTION) -> CandidateParams:
        """Build from a ``candidates:`` mapping; unknown, missing or ill-typed keys are errors."""
        if not isinstance(mapping, dict):
            raise ConfigError(f"{source}: expected a mapping, got {type(mapping).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown parameter {SECTION}.{unknown[0]} "
                              f"(known: {', '.join(names)})")
        missing = [n for n in names if n not in mapping]
        if missing:
            raise ConfigError(f"{source}: missing parameter {SECTION}.{missing[0]}")
        kwargs: dict[str, Any] = {}
        for name in names:
            value = mapping[name]
            if name in ("radius_mm", "hu_clip"):
                if not isinstance(value, (list, tuple)) or len(value) != 2:
                    raise ConfigError(f"{source}: {SECTION}.{name} must be [low, high], got "
                                      f"{value!r}")
                value = tuple(_number(name, v, source) for v in value)
            elif name in ("scales", "max_candidates", "jobs"):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(f"{source}: {SECTION}.{name} must be an integer, got "
                                      f"{value!r}")
            else:
                value = _number(name, value, source)
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


@overload
def load_candidate_params(path: str | Path) -> CandidateParams: ...
@overload
def load_candidate_params(path: str | Path, required: bool) -> CandidateParams | None: ...


def load_candidate_params(path: str | Path, required: bool = True) -> CandidateParams | None:
    """Read the ``candidates:`` section of a params file (None if absent and not required)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or SECTION not in raw:
        if not required:
            return None
        raise ConfigError(f"{path}: expected a '{SECTION}:' section")
    return CandidateParams.from_mapping(raw[SECTION], str(path))


def _number(name: str, value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {SECTION}.{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{source}: {SECTION}.{name} must be a finite number, got {value!r}")
    return float(value)


def _positive(name: str, value: float, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{SECTION}.{name} must be {'>=' if zero_ok else '>'} 0, got {value}")


def _ordered(name: str, pair: tuple[float, ...], strict: bool = False) -> None:
    if pair[0] > pair[1] or (strict and pair[0] == pair[1]):
        raise ConfigError(f"{SECTION}.{name} must be [low, high] with low "
                          f"{'<' if strict else '<='} high, got {list(pair)}")


DEFAULTS = Path(__file__).with_name("defaults.yaml")


def default_candidate_params() -> CandidateParams:
    """The repository's defaults (``defaults.yaml`` beside this module), for use without
    ``params.yaml`` (predict on a new folder)."""
    return load_candidate_params(DEFAULTS)
