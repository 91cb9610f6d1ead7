"""JSON records between stages: frozen dataclasses with one reader and one writer each.

A record class (``@dataclass(frozen=True)`` subclass of :class:`Record`) names its file and the
stage that writes it; ``from_dict`` checks that every field is present (a field whose default is
None may be left out), of its declared type and that no unknown key came along, and says which
one is wrong in one line naming the file and the key; ``to_dict``/``write`` give back the plain
JSON (sorted keys, through :func:`pipeline.io.write_json`), so the bytes on disk are those of the
dict it replaces.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from pipeline.errors import InputError
from pipeline.io import read_json, to_jsonable, write_json

R = TypeVar("R", bound="TypedRecord")


class _MismatchError(Exception):
    """A value is not of the type a field declares (turned into an :class:`InputError`)."""


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        inner = args[0] if args else Any
        size = "" if not args or args[-1] is Ellipsis or origin is list else f"{len(args)} "
        return f"a list of {size}items, each {_describe(inner)}"
    if origin is dict:
        return "an object"
    if hint is type(None):
        return "null"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (ints become floats where a float is declared, lists tuples where a
    tuple is); raises :class:`_MismatchError` when it is not of that type."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(value, arg)
            except _MismatchError:
                continue
        raise _MismatchError
    if hint is type(None):
        if value is not None:
            raise _MismatchError
        return None
    if origin is typing.Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise _MismatchError
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _MismatchError
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _MismatchError
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _MismatchError
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _MismatchError
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _MismatchError
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _MismatchError
            return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
        items = [_coerce(v, args[0] if args else Any) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _MismatchError
        inner = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, inner) for k, v in value.items()}
    raise TypeError(f"record field type {hint!r} is not supported")


class TypedRecord:
    """Base of a typed record (a dict between stages); subclasses are frozen dataclasses.

    Class attributes: ``file`` (the file name, e.g. ``preprocess.json``) and ``stage`` (the stage
    that writes it).
    """

    file: ClassVar[str]
    stage: ClassVar[str]

    @classmethod
    def key_names(cls) -> tuple[str, ...]:
        """The record's keys, in field order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str | None = None) -> R:
        """Build the record from a mapping (a JSON object).

        Raises:
            InputError: one line naming ``where`` (default: the file name) and the key that is
                missing, unknown or of the wrong type.
        """
        where = where or cls.file
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a JSON object with keys {list(cls.key_names())}, "
                             f"got {type(data).__name__}")
        hints = get_type_hints(cls)
        unknown = sorted(set(data) - set(cls.key_names()))
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r} (expected keys "
                             f"{list(cls.key_names())})")
        missing = [k for k in cls.key_names() if k not in data and k not in cls.optional_keys()]
        if missing:
            raise InputError(f"{where}: missing key {missing[0]!r} (expected keys "
                             f"{list(cls.key_names())})")
        values = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name not in data:  # an optional key left out: its default (None)
                continue
            try:
                values[field.name] = _coerce(data[field.name], hints[field.name])
            except _MismatchError:
                raise InputError(f"{where}: key {field.name!r}: expected "
                                 f"{_describe(hints[field.name])}, got "
                                 f"{data[field.name]!r}"[:300]) from None
        return cls(**values)

    @classmethod
    def optional_keys(cls) -> tuple[str, ...]:
        """Keys that may be left out: fields whose default is None (left out when None)."""
        return tuple(f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                     if f.default is None)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON types (tuples as lists); an optional key that is None is
        left out, as the dict it replaces left it out."""
        optional = self.optional_keys()
        return {f.name: to_jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if not (f.name in optional and getattr(self, f.name) is None)}



class Record(TypedRecord):
    """A typed record stored as a JSON file (:meth:`read`, :meth:`write`)."""

    @classmethod
    def read(cls: type[R], path: str | os.PathLike[str]) -> R:
        """Read the record from a JSON file.

        Raises:
            InputError: the file is missing or not JSON, or a key is missing, unknown or mistyped.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: expected the {cls.stage} stage's {cls.file}, not found")
        try:
            data = read_json(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not JSON: {' '.join(str(exc).split())}") from None
        return cls.from_dict(data, str(path))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the record as stable JSON (sorted keys, 2-space indent), atomically."""
        write_json(path, self.to_dict())
