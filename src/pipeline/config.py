"""The params loader: builds a typed, validated section of ``params.yaml`` (no section lives here).

Each package declares its own section as a frozen dataclass next to the code that uses it
(``pipeline.imaging.params.ResampleParams``, ``pipeline.training.params.TrainParams``, ...), so
editing one package's parameters only re-runs the stages that import it. Ranges are data: a field
declares them with :func:`bounds`, and :class:`Section` checks them for every instance, naming
the key (``train.lr``) and the value. The loader rejects unknown and missing keys, wrong types,
NaN and infinity, so a typo never silently falls back to a default. Defaults live in
``params.yaml``, not here, so ``dvc params diff`` shows them.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union

import yaml

from pipeline.errors import ConfigError

T = TypeVar("T")


def check_range(key: str, value: float, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise ConfigError naming ``key`` unless ``lo <= value <= hi`` (open ends if asked)."""
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(f"{key} must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ConfigError(f"{key} must be {'<' if hi_open else '<='} {hi}, got {value}")


def check_pair(key: str, pair: tuple[float, float], strict: bool = False) -> None:
    """Raise ConfigError unless ``pair`` is ``[low, high]`` with low <= high (< if ``strict``)."""
    if pair[0] > pair[1] or (strict and pair[0] == pair[1]):
        rel = "<" if strict else "<="
        raise ConfigError(f"{key} must be [low, high] with low {rel} high, got {list(pair)}")


def bounds(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, ordered: bool = False, strict: bool = False,
           default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its allowed range as data (checked by :class:`Section`).

    For a tuple field the range applies to every value; ``ordered`` also asks ``[low, high]``
    with low <= high (``strict``: low < high). ``default`` makes the key optional.
    """
    spec = {"bounds": (lo, hi, lo_open, hi_open, ordered, strict)}
    return dataclasses.field(default=default, metadata=spec)


@dataclass(frozen=True)
class Section:
    """Base of every params section: checks the declared :func:`bounds` of its fields.

    ``SECTION`` names the ``params.yaml`` section in error messages; a dataclass shared by two
    sections (train and baseline) has a ``section`` field instead. Cross-field rules go in
    :meth:`check`.
    """

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        prefix = getattr(self, "section", "") or self.SECTION
        for f in dataclasses.fields(self):
            spec = f.metadata.get("bounds")
            if spec is None:
                continue
            lo, hi, lo_open, hi_open, ordered, strict = spec
            value = getattr(self, f.name)
            key = f"{prefix}.{f.name}" if prefix else f.name
            if ordered:
                check_pair(key, value, strict)
            for v in value if isinstance(value, tuple) else (value,):
                check_range(key, v, lo, hi, lo_open, hi_open)
        self.check(prefix)

    def check(self, prefix: str) -> None:
        """Rules between fields (override); ``prefix`` is the section's name."""


def convert(key: str, tp: Any, value: Any) -> Any:
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
        for member in inner[:-1]:  # the first member the value converts to
            try:
                return convert(key, member, value)
            except ConfigError:
                continue
        return convert(key, inner[-1], value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(f"{key}[{i}]", args[0], v) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key} must have {len(args)} values, got {value!r}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(convert(f"{key}[{i}]", a, v) for i, (a, v) in pairs)
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
        kwargs[name] = convert(key, hints[name], mapping[name])
    return cls(**kwargs)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of sections in a params file; ConfigError naming the file otherwise."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def load_section(path: str | Path, name: str, cls: type[T]) -> T:
    """Read and validate section ``name`` of ``params.yaml`` as ``cls``.

    A stage checks only what it reads: a typo in another section does not stop it; every error
    names the file and the key.
    """
    raw = read_yaml(path)
    if name not in raw:
        raise ConfigError(f"{path}: missing parameter section {name}")
    try:
        return convert(name, cls, raw[name])  # type: ignore[no-any-return]
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
