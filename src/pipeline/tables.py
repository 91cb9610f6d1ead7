"""CSV tables between stages: one typed definition each, read with one clear error per bad cell.

A :class:`Table` names a file, its ordered columns with their kinds and the float format it is
written with; ``Table.read`` validates it and ``Table.write`` writes exactly its columns, in order,
through :func:`pipeline.io.write_csv` (atomic). Each inter-stage table is defined once, beside the
module that writes it (docs/data-contracts.md lists them all); the tables a user hands the pipeline
(LUNA16's ``candidates.csv``, ``annotations.csv``, ``annotations_excluded.csv``) and the ones two
packages share across layers are defined here, at the bottom.

A table is rejected, with one line naming the file, the row (1-based data row, and its line in the
file) and the column, when it is empty, has only a header (for user tables), lacks a column, holds
a non-numeric, empty, NaN or infinite coordinate or diameter, a class other than 0 or 1, an empty
series UID, or (user tables) a row that duplicates an earlier one (duplicates are reported, never
silently kept or dropped). Extra columns are kept as they are (text).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.errors import InputError, PipelineError
from pipeline.io import write_csv

#: What a cell holds. ``uid``: non-empty text; ``text``: any text (empty allowed); ``number``:
#: finite float; ``positive``: finite float > 0; ``optional``: finite float or empty (NaN);
#: ``int``: integer; ``class``: 0 or 1.
Kind = Literal["uid", "text", "number", "positive", "optional", "int", "class"]
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
        out[column] = _cast(out[column], kind, name, column)
    if check_duplicates:
        key = list(columns)
        later_rows = out.duplicated(subset=key, keep="first")
        if later_rows.any():
            later = int(later_rows.to_numpy().argmax())
            first = int((out[key] == out.loc[later, key]).all(axis=1).to_numpy().argmax())
            raise InputError(f"{_where(name, later)}: duplicates row {first + 1} (same "
                             f"{', '.join(key)}); remove one of them")
    return out.reset_index(drop=True)


def _cast(values: pd.Series, kind: Kind, name: str, column: str) -> pd.Series:
    """One column of text cells as ``kind``; the first bad cell raises :class:`InputError`."""
    if kind in ("uid", "text"):
        text = values.astype("string")
        if kind == "uid":
            text = text.str.strip()
            bad = (text.isna() | (text == "")).to_numpy(dtype=bool)
            if bad.any():
                raise InputError(f"{_where(name, int(bad.argmax()), column)}: empty series UID")
        return text.fillna("").astype(str)
    raw = values.astype("string").fillna("")
    numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    finite = np.isfinite(numbers)
    if kind == "class":
        ok, expected = np.isin(numbers, (0.0, 1.0)), "0 or 1"
    elif kind == "int":
        ok, expected = finite & (np.mod(numbers, 1.0, where=finite, out=np.ones_like(numbers))
                                 == 0), "an integer"
    elif kind == "positive":
        ok, expected = finite & (numbers > 0), "a finite number > 0"
    elif kind == "optional":
        ok, expected = finite | (raw.str.strip() == "").to_numpy(dtype=bool), \
            "a finite number or nothing"
    else:
        ok, expected = finite, "a finite number"
    if not ok.all():
        i = int((~ok).argmax())
        raise InputError(f"{_where(name, i, column)}: expected {expected}, got {raw.iat[i]!r}")
    if kind in ("class", "int"):
        return pd.Series(numbers.astype("int64"), index=values.index)
    return pd.Series(numbers, index=values.index)


def _read_text(path: Path, names: Iterable[str]) -> pd.DataFrame:
    """Every cell of a CSV as text (empty cells ``""``), or one line saying why it cannot be."""
    header = ",".join(names)
    if not path.is_file():
        raise InputError(f"{path}: table not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file: expected a header {header} and rows")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file: expected a header {header} and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a CSV table: {' '.join(str(exc).split())}") from None


def read_table(path: str | os.PathLike[str], columns: Mapping[str, Kind] | str,
               check_duplicates: bool = True) -> pd.DataFrame:
    """Read and validate a CSV table (``columns``: a spec, or a name of :data:`TABLES`).

    Raises:
        InputError: missing or empty file, header only, or a bad row (see :func:`validate_table`).
    """
    spec = TABLES[columns] if isinstance(columns, str) else columns
    path = Path(path)
    return validate_table(_read_text(path, spec), spec, str(path), check_duplicates)


@dataclass(frozen=True)
class Table:
    """One CSV file that passes between stages: its name, ordered columns and float format.

    Attributes:
        file: the file name (``index.csv``).
        stage: the stage that writes it (``patches``; ``user`` for tables a user provides).
        columns: ``(name, kind)`` pairs, in the order they are written.
        float_format: ``%``-format of float cells (``None``: pandas' shortest round trip).
        user_input: a table a user hands the pipeline: it must have rows, and a row that
            duplicates an earlier one is an error; a stage-written table may be header-only.
    """

    file: str
    stage: str
    columns: tuple[tuple[str, Kind], ...]
    float_format: str | None = None
    user_input: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(name for name, _ in self.columns)

    @property
    def spec(self) -> dict[str, Kind]:
        """Column name -> kind (the form :func:`validate_table` takes)."""
        return dict(self.columns)

    def only(self, *names: str) -> Table:
        """The same table as a reader that needs only ``names`` sees it (other columns kept as
        text, unchecked)."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise PipelineError(f"{self.file} has no columns {unknown}")
        return replace(self, columns=tuple((n, k) for n, k in self.columns if n in names))

    def frame(self, rows: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
        """A DataFrame of ``rows`` (mappings) with exactly this table's columns, in order."""
        return pd.DataFrame(list(rows or ()), columns=list(self.names))

    def check(self, frame: pd.DataFrame, name: str | None = None) -> pd.DataFrame:
        """Validate and type a frame whose cells are text (see :func:`validate_table`)."""
        return validate_table(frame, self.spec, name or self.file,
                              check_duplicates=self.user_input, allow_empty=not self.user_input)

    def read(self, path: str | os.PathLike[str]) -> pd.DataFrame:
        """Read and validate ``path``: typed columns (text, float64, int64), extra columns kept
        as text.

        Raises:
            InputError: one line naming the file (and the row and column) of the first problem.
        """
        path = Path(path)
        return self.check(_read_text(path, self.names), str(path))

    def write(self, path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
        """Write exactly this table's columns of ``frame``, in order (atomic).

        Raises:
            PipelineError: ``frame`` lacks one of the columns (a bug of the writer).
        """
        missing = [c for c in self.names if c not in frame.columns]
        if missing:
            raise PipelineError(f"{path}: cannot write {self.stage}'s {self.file}: the frame "
                                f"lacks columns {missing}")
        write_csv(path, frame.loc[:, list(self.names)], float_format=self.float_format)


#: Where a file or series left out is listed: ingest's and resample's ``rejected.csv``. ``path``
#: is empty for a whole series, ``series_uid`` when unknown.
REJECTED_FILE_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("path", "text"), ("series_uid", "text"), ("reason", "text"))

#: anonymize's ``series.csv`` (pseudonymous values, ``files`` relative to its output folder in
#: stack order, ``|``-joined): written by ``pipeline.dicom.deid`` and ``pipeline.metaimage``, read
#: by ``pipeline.imaging`` (below both), so defined here.
ANONYMIZED_SERIES = Table("series.csv", "anonymize", (
    ("series_uid", "uid"), ("patient_id", "uid"), ("study_uid", "text"), ("n_slices", "int"),
    ("slice_spacing_mm", "optional"), ("files", "text")))
#: The same for a MetaImage cohort, plus its ``format`` and LUNA16 ``subset`` (empty when none).
ANONYMIZED_METAIMAGE_SERIES = Table("series.csv", "anonymize (MetaImage)", (
    *ANONYMIZED_SERIES.columns, ("format", "text"), ("subset", "text")))

#: LUNA16's tables, as a user provides them and as synthesize and anonymize write them.
LUNA_CANDIDATES = Table("candidates.csv", "user", tuple(CANDIDATES.items()), user_input=True)
LUNA_ANNOTATIONS = Table("annotations.csv", "user", tuple(ANNOTATIONS.items()), user_input=True)
LUNA_EXCLUDED = Table("annotations_excluded.csv", "user", tuple(ANNOTATIONS.items()),
                      user_input=True)
CANDIDATE_COLUMNS: tuple[str, ...] = LUNA_CANDIDATES.names
ANNOTATION_COLUMNS: tuple[str, ...] = LUNA_ANNOTATIONS.names
