"""Typed, validated parameters read from ``params.yaml``.

One frozen dataclass per section. The loader rejects unknown and missing keys and wrong types,
naming the key (``train.lr``) and the value, so a typo never silently falls back to a default.
Defaults live in ``params.yaml``, not here, so ``dvc params diff`` shows them.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from pipeline.errors import ConfigError
from pipeline.parallel import ExecutorParams

T = TypeVar("T")


def _check_range(key: str, value: float, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> None:
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(f"{key} must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key} must be <= {hi}, got {value}")


def _check_pair(key: str, pair: tuple[float, float]) -> None:
    if pair[0] > pair[1]:
        raise ConfigError(f"{key} must be [low, high] with low <= high, got {list(pair)}")


@dataclass(frozen=True)
class DataParams:
    """Where the raw data comes from: synthetic default or real cohort (LIDC-IDRI, LUNA16)."""

    dicom_dir: str
    annotations_csv: str
    candidates_csv: str
    synthetic: bool
    # LUNA16's annotations_excluded.csv (findings whose candidates the FROC ignores); optional
    annotations_excluded_csv: str | None = None
    # LUNA16's two tracks: classify the provided candidates, or the generator's (candidates stage)
    candidates: Literal["provided", "generated"] = "provided"


@dataclass(frozen=True)
class SynthesizeParams:
    """The synthetic cohort (``pipeline.synth``); profile shapes live in ``synth/profiles.py``."""

    seed: int
    profile: Literal["tiny", "small", "realistic"]
    n_patients: int
    nodules_per_patient: tuple[int, int]
    nodule_diameter_mm: tuple[float, float]
    negatives_per_nodule: float
    hard_negative_fraction: float
    rle_fraction: float
    implicit_vr_fraction: float
    feet_first_fraction: float
    prone_fraction: float
    split_study_fraction: float
    second_series_fraction: float
    jobs: int

    def __post_init__(self) -> None:
        _check_range("synthesize.n_patients", self.n_patients, 1)
        _check_pair("synthesize.nodules_per_patient", self.nodules_per_patient)
        _check_range("synthesize.nodules_per_patient", self.nodules_per_patient[0], 0)
        _check_pair("synthesize.nodule_diameter_mm", self.nodule_diameter_mm)
        _check_range("synthesize.nodule_diameter_mm", self.nodule_diameter_mm[0], 0, lo_open=True)
        _check_range("synthesize.negatives_per_nodule", self.negatives_per_nodule, 0)
        for name in ("hard_negative_fraction", "rle_fraction", "implicit_vr_fraction",
                     "feet_first_fraction", "prone_fraction", "split_study_fraction",
                     "second_series_fraction"):
            _check_range(f"synthesize.{name}", getattr(self, name), 0, 1)
        if self.rle_fraction + self.implicit_vr_fraction > 1:
            raise ConfigError("synthesize.rle_fraction + synthesize.implicit_vr_fraction must be "
                              f"<= 1, got {self.rle_fraction + self.implicit_vr_fraction}")
        _check_range("synthesize.jobs", self.jobs, 1)


@dataclass(frozen=True)
class IngestParams:
    spacing_rtol: float
    position_tol_mm: float
    orientation_tol: float
    allow_gantry_tilt: bool
    max_tilt_deg: float
    min_slices: int
    jobs: int

    def __post_init__(self) -> None:
        _check_range("ingest.spacing_rtol", self.spacing_rtol, 0, 1, lo_open=True)
        _check_range("ingest.position_tol_mm", self.position_tol_mm, 0, lo_open=True)
        _check_range("ingest.orientation_tol", self.orientation_tol, 0, 1, lo_open=True)
        _check_range("ingest.max_tilt_deg", self.max_tilt_deg, 0, 45)
        _check_range("ingest.min_slices", self.min_slices, 2)
        _check_range("ingest.jobs", self.jobs, 1)


@dataclass(frozen=True)
class AnonymizeParams:
    key_id: str
    uid_root: str
    retain_longitudinal_modified_dates: bool
    max_date_shift_days: int
    retain_patient_characteristics: bool
    retain_device_identity: bool
    retain_safe_private: tuple[str, ...]
    jobs: int

    def __post_init__(self) -> None:
        root = self.uid_root.rstrip(".")
        if not root or not all(p.isdigit() and (p == "0" or not p.startswith("0"))
                               for p in root.split(".")) or len(root) > 40:
            raise ConfigError(f"anonymize.uid_root must be a DICOM UID root like '2.25' "
                              f"(digits and dots, <= 40 chars), got {self.uid_root!r}")
        _check_range("anonymize.max_date_shift_days", self.max_date_shift_days, 1, 3650)
        for entry in self.retain_safe_private:  # PS3.15 Table E.3.10-1 notation, odd group
            if not re.fullmatch(r"[0-9A-Fa-f]{3}[13579BbDdFf],[xX]{2}[0-9A-Fa-f]{2}:.+", entry):
                raise ConfigError("anonymize.retain_safe_private entries must look like "
                                  f"'0019,xx0C:SIEMENS MR HEADER' (odd group), got {entry!r}")
        _check_range("anonymize.jobs", self.jobs, 1)


@dataclass(frozen=True)
class ResampleParams:
    spacing_mm: float
    interpolator: Literal["linear", "bspline"]
    hu_range: tuple[float, float]
    anti_alias: bool
    lung_mask: bool
    jobs: int

    def __post_init__(self) -> None:
        _check_range("resample.spacing_mm", self.spacing_mm, 0, lo_open=True)
        _check_pair("resample.hu_range", self.hu_range)
        for value in self.hu_range:  # volumes are stored as int16
            _check_range("resample.hu_range", value, -32768, 32767)
        _check_range("resample.jobs", self.jobs, 1)


@dataclass(frozen=True)
class PatchesParams:
    cube_mm: float
    merge_distance_mm: float
    jobs: int

    def __post_init__(self) -> None:
        _check_range("patches.cube_mm", self.cube_mm, 0, lo_open=True)
        _check_range("patches.merge_distance_mm", self.merge_distance_mm, 0)
        _check_range("patches.jobs", self.jobs, 1)


@dataclass(frozen=True)
class CvParams:
    """Patient-level k-fold cross-validation (LUNA16 protocol): folds, inner validation."""

    folds: int
    fold_ids: tuple[int, ...]
    seed: int
    inner_val: float

    def __post_init__(self) -> None:
        _check_range("cv.folds", self.folds, 2)
        if tuple(self.fold_ids) != tuple(range(self.folds)):
            raise ConfigError(f"cv.fold_ids must list 0..{self.folds - 1} (dvc.yaml runs one "
                              f"train stage per entry), got {list(self.fold_ids)}")
        _check_range("cv.inner_val", self.inner_val, 0, 0.5, lo_open=True)


@dataclass(frozen=True)
class TrainParams:
    model: str
    seed: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    balance: Literal["sampler", "weighted_loss", "none"]
    augment: bool
    early_stopping_patience: int
    device: str
    num_workers: int
    hu_window: tuple[float, float]
    slice_px: int
    threshold: Literal["youden", "sensitivity"]
    target_sensitivity: float
    # Optional (their defaults keep the plain Adam-at-constant-lr loop of the seed2d baseline;
    # params.yaml states them for both sections):
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: per-step decay to 0
    warmup_epochs: int = 0        # linear warm-up from lr/10, in epochs, before the schedule
    ema_decay: float = 0.0        # exponential moving average of weights and BN buffers (0 = off)
    section: str = "train"

    def __post_init__(self) -> None:
        s = self.section  # the model name is checked against the registry by training
        _check_pair(f"{s}.hu_window", self.hu_window)
        if self.hu_window[0] == self.hu_window[1]:
            raise ConfigError(f"{s}.hu_window must have low < high, got {list(self.hu_window)}")
        _check_range(f"{s}.slice_px", self.slice_px, 1)
        _check_range(f"{s}.target_sensitivity", self.target_sensitivity, 0, 1, lo_open=True)
        _check_range(f"{s}.epochs", self.epochs, 1)
        _check_range(f"{s}.warmup_epochs", self.warmup_epochs, 0)
        _check_range(f"{s}.ema_decay", self.ema_decay, 0, 1)
        if self.ema_decay >= 1:
            raise ConfigError(f"{s}.ema_decay must be < 1, got {self.ema_decay}")
        _check_range(f"{s}.batch_size", self.batch_size, 1)
        _check_range(f"{s}.lr", self.lr, 0, lo_open=True)
        _check_range(f"{s}.weight_decay", self.weight_decay, 0)
        _check_range(f"{s}.early_stopping_patience", self.early_stopping_patience, 1)
        _check_range(f"{s}.num_workers", self.num_workers, 0)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(
                f"{s}.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")


@dataclass(frozen=True)
class EvaluateParams:
    bootstrap: int
    seed: int
    montage_per_group: int

    def __post_init__(self) -> None:
        _check_range("evaluate.bootstrap", self.bootstrap, 0)
        _check_range("evaluate.montage_per_group", self.montage_per_group, 0)


@dataclass(frozen=True)
class ExportParams:
    opset: int
    parity_atol: float
    large_batch: int
    parity_samples: int

    def __post_init__(self) -> None:
        _check_range("export.opset", self.opset, 13)
        _check_range("export.parity_atol", self.parity_atol, 0, lo_open=True)
        _check_range("export.large_batch", self.large_batch, 2)
        _check_range("export.parity_samples", self.parity_samples, 1)


@dataclass(frozen=True)
class ExecutorSection:
    """Where map-over-series work runs; ``jobs`` comes from each stage's own section."""

    kind: Literal["local", "dask"]
    address: str | None

    def with_jobs(self, jobs: int) -> ExecutorParams:
        return ExecutorParams(kind=self.kind, jobs=jobs, address=self.address)


@dataclass(frozen=True)
class Params:
    data: DataParams
    synthesize: SynthesizeParams
    ingest: IngestParams
    anonymize: AnonymizeParams
    resample: ResampleParams
    patches: PatchesParams
    cv: CvParams
    train: TrainParams
    baseline: TrainParams
    evaluate: EvaluateParams
    export: ExportParams
    executor: ExecutorSection


def _convert(key: str, tp: Any, value: Any) -> Any:
    """Convert a YAML value to annotation ``tp``, or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return build(tp, value, key)  # type: ignore[arg-type]
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(key, inner[0], value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(f"{key}[{i}]", args[0], v) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key} must have {len(args)} values, got {value!r}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(f"{key}[{i}]", a, v) for i, (a, v) in pairs)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported parameter type {tp!r}")


def build(cls: type[T], mapping: dict[str, Any], prefix: str) -> T:
    """Build dataclass ``cls`` from ``mapping``, rejecting unknown and missing keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields) - {"section"})
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown parameter {where} (known: {', '.join(fields)})")
    kwargs = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name == "section" and name not in mapping:
            kwargs[name] = prefix  # which params.yaml section a shared dataclass came from
            continue
        if name not in mapping:
            if field.default is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing parameter {key}")
        kwargs[name] = _convert(key, hints[name], mapping[name])
    return cls(**kwargs)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


#: Sections whose dataclass lives with its own package (validated by that package's loader, so
#: editing them never touches this module): name -> where.
PACKAGE_SECTIONS = {"candidates": "pipeline.detection.params", "node": "pipeline.node.params"}


def load_section(path: str | Path, name: str) -> Any:
    """Read and validate one section of ``params.yaml`` (a stage checks only what it reads).

    A typo in another section does not stop this stage; every error names the key.
    """
    path = Path(path)
    hints = typing.get_type_hints(Params)
    if name not in hints:
        raise ConfigError(f"unknown params section {name!r} (known: {', '.join(hints)})")
    raw = _read_yaml(path)
    if name not in raw:
        raise ConfigError(f"{path}: missing parameter section {name}")
    try:
        return _convert(name, hints[name], raw[name])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate every section of ``params.yaml``; every error names the key."""
    path = Path(path)
    raw = {k: v for k, v in _read_yaml(path).items() if k not in PACKAGE_SECTIONS}
    try:
        return build(Params, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
