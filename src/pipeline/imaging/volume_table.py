"""The resample stage's outputs: ``geometry.csv`` (and the geometry recorded in each row) and
``resample.json``, read by the patches, candidates and datacard stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline.imaging.geometry import Geometry
from pipeline.records import Record
from pipeline.tables import Kind, Table

_XYZ = ("x", "y", "z")
_KINDS: tuple[tuple[str, Kind], ...] = (("spacing", "number"), ("size", "int"))
_SPACING_SIZE: tuple[tuple[str, Kind], ...] = tuple(
    (f"{prefix}{what}_{axis}", kind) for prefix in ("orig_", "") for what, kind in _KINDS
    for axis in _XYZ)

#: ``geometry.csv``: one row per volume written (``direction``: 9 cosines ``\``-joined).
GEOMETRY = Table("geometry.csv", "resample", (
    ("series_uid", "uid"), ("patient_id", "uid"), ("file", "text"), ("lung_file", "text"),
    *_SPACING_SIZE, *((f"origin_{axis}", "number") for axis in _XYZ), ("direction", "text"),
    ("hu_min", "int"), ("hu_max", "int")), float_format="%.6f")
GEOMETRY_COLUMNS = list(GEOMETRY.names)


@dataclass(frozen=True)
class ResampleRecord(Record):
    """``resample.json``: what the volumes were made with, read back by the patches stage."""

    file: ClassVar[str] = "resample.json"
    stage: ClassVar[str] = "resample"

    spacing_mm: float
    interpolator: str
    hu_range: tuple[float, float]
    anti_alias: bool
    lung_mask: bool


def format_direction(direction: tuple[float, ...]) -> str:
    """9 direction cosines ``\\``-joined with 10 significant digits (stable text)."""
    texts = [f"{float(v):.10g}" for v in direction]
    return "\\".join("0" if t == "-0" else t for t in texts)


def parse_direction(text: str) -> tuple[float, ...]:
    """Inverse of :func:`format_direction`."""
    return tuple(float(v) for v in str(text).split("\\"))


def geometry_from_row(row: Any) -> Geometry:
    """The volume geometry recorded in a ``geometry.csv`` row (mapping or pandas row)."""
    return Geometry(origin=(row["origin_x"], row["origin_y"], row["origin_z"]),
                    spacing=(row["spacing_x"], row["spacing_y"], row["spacing_z"]),
                    direction=parse_direction(row["direction"]))  # type: ignore[arg-type]


def shape_from_row(row: Any) -> tuple[int, int, int]:
    """NumPy ``(z, y, x)`` shape of the volume of a ``geometry.csv`` row."""
    return int(row["size_z"]), int(row["size_y"]), int(row["size_x"])
