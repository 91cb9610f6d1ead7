"""The resample stage's ``geometry.csv``: columns and the geometry recorded in each row."""

from __future__ import annotations

from typing import Any

from pipeline.imaging.geometry import Geometry

GEOMETRY_COLUMNS = [
    "series_uid", "patient_id", "file", "lung_file",
    "orig_spacing_x", "orig_spacing_y", "orig_spacing_z",
    "orig_size_x", "orig_size_y", "orig_size_z",
    "spacing_x", "spacing_y", "spacing_z", "size_x", "size_y", "size_z",
    "origin_x", "origin_y", "origin_z", "direction", "hu_min", "hu_max",
]


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
