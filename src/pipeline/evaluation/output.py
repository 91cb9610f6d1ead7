"""The evaluate stage's per-candidate CSVs, written in chunks of rows.

``predictions.csv`` holds one row per candidate and model, and the PR and confusion tables one
per candidate: written whole (``DataFrame.to_csv`` to one string, then encoded), their text
would sit in memory twice over, growing with the number of candidates. These writers give the
same bytes as :func:`pipeline.io.write_csv` (the same ``to_csv`` options; a row's text does not
depend on its neighbours) and hold ``chunk_rows`` rows of text at a time. The predictions are
never concatenated either: :class:`Predictions` keeps each model's out-of-fold table and adds its
constant ``model`` and ``role`` columns chunk by chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import pandas as pd

from pipeline.io import atomic_path

CHUNK_ROWS = 16_384


def _chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), max(int(chunk_rows), 1)):
        yield frame.iloc[start:start + chunk_rows]


def _write_rows(fh: IO[str], chunks: Iterable[pd.DataFrame], columns: Sequence[str],
                float_format: str | None) -> None:
    header = True
    for chunk in chunks:
        chunk.to_csv(fh, index=False, header=header, lineterminator="\n",
                     float_format=float_format)
        header = False
    if header:  # no rows: the header alone, as to_csv writes an empty table
        pd.DataFrame(columns=list(columns)).to_csv(fh, index=False, lineterminator="\n")


def write_table(path: str | os.PathLike[str], frame: pd.DataFrame,
                float_format: str | None = None, chunk_rows: int = CHUNK_ROWS) -> None:
    """``pipeline.io.write_csv(path, frame, float_format)``'s bytes, ``chunk_rows`` rows at a time
    (atomically: the file appears complete or not at all)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        _write_rows(fh, _chunks(frame, chunk_rows), frame.columns, float_format)


@dataclass(frozen=True)
class Predictions:
    """Out-of-fold tables stacked in order, each with columns of one value for all its rows
    (``{"model": "cnn3d", "role": "model"}``): the table ``pd.concat`` of the assigned parts
    would give, without building it."""

    parts: tuple[tuple[pd.DataFrame, Mapping[str, str]], ...]
    columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        cols: list[str] = []
        for frame, constants in self.parts:
            cols += [c for c in (*frame.columns, *constants) if c not in cols]
        object.__setattr__(self, "columns", cols)

    def __len__(self) -> int:
        return sum(len(frame) for frame, _ in self.parts)

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The stacked rows, at most ``chunk_rows`` at a time, with every column."""
        for frame, constants in self.parts:
            for chunk in _chunks(frame, chunk_rows):
                yield chunk.assign(**constants).reindex(columns=self.columns)

    def to_frame(self) -> pd.DataFrame:
        """The whole stacked table (for small data: it holds every row at once)."""
        return pd.concat([frame.assign(**constants) for frame, constants in self.parts],
                         ignore_index=True).reindex(columns=self.columns)


def write_predictions(path: str | os.PathLike[str], predictions: Predictions,
                      float_format: str | None = "%.6f", chunk_rows: int = CHUNK_ROWS) -> None:
    """``predictions.csv``: the stacked rows of ``predictions``, written chunk by chunk."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        _write_rows(fh, predictions.chunks(chunk_rows), predictions.columns, float_format)
