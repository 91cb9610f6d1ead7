"""Validate the LUNA16-style CSV tables a user hands the pipeline: one clear error per bad cell.

``candidates.csv`` (``seriesuid, coordX, coordY, coordZ, class``), ``annotations.csv`` and
``annotations_excluded.csv`` (``seriesuid, coordX, coordY, coordZ, diameter_mm``) and predict's
input table are read here before any stage trusts them. A table is rejected, with one line naming
the file, the row (1-based data row, and its line in the file) and the column, when it is empty,
has only a header, lacks a column, holds a non-numeric, empty, NaN or infinite coordinate or
diameter, a class other than 0 or 1, an empty series UID, or a row that duplicates an earlier one
(duplicates are reported, never silently kept or dropped). Extra columns are kept as they are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from pipeline.errors import InputError

Kind = Literal["uid", "number", "positive", "class"]
COORDS = ("coordX", "coordY", "coordZ")
CANDIDATES: dict[str, Kind] = {"seriesuid": "uid", "coordX": "number", "coordY": "number",
                               "coordZ": "number", "class": "class"}
ANNOTATIONS: dict[str, Kind] = {"seriesuid": "uid", "coordX": "number", "coordY": "number",
                                "coordZ": "number", "diameter_mm": "positive"}
TABLES: dict[str, Mapping[str, Kind]] = {"candidates": CANDIDATES, "annotations": ANNOTATIONS,
                                         "annotations_excluded": ANNOTATIONS}


def _where(name: str, index: int, column: str | None = None) -> str:
    col = f", column {column}" if column else ""
    return f"{name}: row {index + 1} (line {index + 2}){col}"


def validate_table(frame: pd.DataFrame, columns: Mapping[str, Kind], name: str,
                   check_duplicates: bool = True, allow_empty: bool = False) -> pd.DataFrame:
    """Check ``frame`` (read with every column as text, see :func:`read_table`) against
    ``columns`` and return it with numeric columns as float64 and ``class`` as int64.
    ``allow_empty``: a table with a header and no rows is valid (a table a stage wrote).

    Raises:
        InputError: one line naming ``name``, the row and the column of the first problem.
    """
    if frame.empty and not allow_empty:
        raise InputError(f"{name}: no rows (only a header): expected at least one row of "
                         f"{', '.join(columns)}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: expected columns {list(columns)}, missing {missing} "
                         f"(found {list(frame.columns)})")
    out = frame.copy()
    for column, kind in columns.items():
        values = out[column]
        if kind == "uid":
            text = values.astype("string").str.strip()
            bad = text.isna() | (text == "")
            if bad.any():
                raise InputError(f"{_where(name, int(bad.to_numpy().argmax()), column)}: "
                                 "empty series UID")
            out[column] = text.astype(str)
            continue
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        for i, (raw, number) in enumerate(zip(values, numbers, strict=True)):
            if kind == "class":
                ok = number in (0.0, 1.0)
                expected = "0 or 1"
            else:
                ok = math.isfinite(number) and (kind != "positive" or number > 0)
                expected = "a finite number" + (" > 0" if kind == "positive" else "")
            if not ok:
                shown = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) \
                    else str(raw)
                raise InputError(f"{_where(name, i, column)}: expected {expected}, got "
                                 f"{shown!r}")
        out[column] = numbers.astype("int64") if kind == "class" else numbers
    if check_duplicates:
        key = list(columns)
        later_rows = out.duplicated(subset=key, keep="first")
        if later_rows.any():
            later = int(later_rows.to_numpy().argmax())
            first = int((out[key] == out.loc[later, key]).all(axis=1).to_numpy().argmax())
            raise InputError(f"{_where(name, later)}: duplicates row {first + 1} (same "
                             f"{', '.join(key)}); remove one of them")
    return out.reset_index(drop=True)


def read_table(path: str | os.PathLike[str], columns: Mapping[str, Kind] | str,
               check_duplicates: bool = True) -> pd.DataFrame:
    """Read and validate a CSV table (``columns``: a spec, or a name of :data:`TABLES`).

    Raises:
        InputError: missing or empty file, header only, or a bad row (see :func:`validate_table`).
    """
    spec = TABLES[columns] if isinstance(columns, str) else columns
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: table not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file: expected a header {','.join(spec)} and rows")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file: expected a header {','.join(spec)} and rows"
                         ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a CSV table: {' '.join(str(exc).split())}") from None
    return validate_table(frame, spec, str(path), check_duplicates)
