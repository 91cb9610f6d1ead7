"""Read the ``patches`` stage's outputs and serve them to PyTorch.

``load_index`` reads the patches' ``index.csv`` (the cubes are read by the fold that uses them,
batch by batch, through :mod:`pipeline.data.cube_store`); ``PatchDataset`` turns cubes into
network inputs through :func:`pipeline.data.inputs.model_inputs`
(the same function ONNX ``predict`` uses), with optional augmentation whose randomness depends only
on ``(seed, epoch, item)``, so results do not depend on the number of loader workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from pipeline.data.augment import (
    apply_intensity,
    apply_noise,
    augment_cube,
    centre_crop,
    intensity_params,
    noise_bytes,
)
from pipeline.data.cube_store import CubeSource, iter_row_chunks, read_rows
from pipeline.data.inputs import model_inputs
from pipeline.data.patches_format import Preprocess
from pipeline.errors import InputError, PipelineError
from pipeline.io import read_csv

INDEX_CHUNK_ROWS = 65_536


def load_preprocess(patches_dir: str | Path) -> dict[str, Any]:
    """Read ``preprocess.json`` from the patches folder, checked against its contract
    (:class:`~pipeline.data.patches_format.Preprocess`); the dict keeps the file's key order, which
    the checkpoint records."""
    path = Path(patches_dir) / Preprocess.file
    if not path.exists():
        raise PipelineError(f"{path}: expected the patches stage's preprocess.json, not found")
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Preprocess.from_dict(record, str(path))
    return record


def load_index(patches_dir: str | Path) -> pd.DataFrame:
    """Read ``index.csv`` with ids as strings."""
    path = Path(patches_dir) / "index.csv"
    if not path.exists():
        raise PipelineError(f"{path}: expected the patches stage's index.csv, not found")
    return read_csv(path, dtype={"series_uid": str, "patient_id": str, "candidate_id": str,
                                 "annotation_id": str, "split": str})


#: text that int64 gives back unchanged (no sign but minus, no leading zero, at most 18 digits)
_CANONICAL_INT = r"-?(?:0|[1-9][0-9]{0,17})"


class _Codes:
    """Integer codes of one id column's distinct strings, in order of first appearance."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.code_of: dict[str, int] = {}

    def encode(self, values: pd.Series, path: Path) -> np.ndarray:
        if values.isna().any():
            raise PipelineError(f"{path}: {self.column} is empty in some rows")
        local, uniques = pd.factorize(values)
        lut = np.array([self.code_of.setdefault(str(u), len(self.code_of)) for u in uniques],
                       dtype=np.int64)
        return lut[local] if len(uniques) else np.zeros(0, np.int64)

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        """The codes as a categorical with sorted categories (codes then sort as the text)."""
        names = list(self.code_of)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        return pd.Categorical.from_codes(rank[codes] if len(names) else codes,
                                         categories=[names[i] for i in order])


def _integer_ids(values: pd.Series, column: str, path: Path) -> pd.Series:
    if values.isna().any():
        raise PipelineError(f"{path}: {column} is empty in some rows")
    if values.str.fullmatch(_CANONICAL_INT).all():
        return values.astype(np.int64)
    return values


def _join_ids(parts: list[pd.Series]) -> pd.Series:
    """Integers when every part is (the text of each is its id), else the text."""
    if all(p.dtype == np.int64 for p in parts):
        return pd.Series(np.concatenate([p.to_numpy() for p in parts] or [np.zeros(0, int)]))
    return pd.concat([p.astype(str) for p in parts], ignore_index=True)


def _narrow(values: np.ndarray) -> np.ndarray:
    """An integer column in the smallest integer type that holds it (the same text)."""
    if values.dtype.kind in "iu" and len(values):
        return pd.to_numeric(pd.Series(values), downcast="integer").to_numpy()
    return values


def _check_numbers(chunk: pd.DataFrame, columns: Sequence[str], path: Path, offset: int) -> None:
    """Every cell of ``columns`` is a number; else one line naming the file, row and column."""
    for col in columns:
        values = chunk[col]
        if pd.api.types.is_numeric_dtype(values) and not values.isna().any():
            continue
        bad = pd.to_numeric(values, errors="coerce").isna().to_numpy()
        i = int(bad.argmax())
        raise InputError(f"{path}: row {offset + i + 1} (line {offset + i + 2}), column {col}: "
                         f"expected a number, got {values.iloc[i]!r}")


def read_compact(paths: Sequence[str | Path], categorical: Sequence[str] = ("series_uid",
                                                                             "patient_id"),
                 integer_ids: Sequence[str] = ("candidate_id",),
                 columns: Sequence[str] | None = None,
                 chunk_rows: int = INDEX_CHUNK_ROWS,
                 numeric: Sequence[str] = ()) -> pd.DataFrame:
    """CSV files of one header stacked in file order, in small types, read ``chunk_rows`` rows
    at a time (no file's text columns are held whole).

    ``categorical`` id columns become categoricals with sorted categories (shared by every
    file), ``integer_ids`` become int64 where every id of the files is a plain decimal integer
    (else they stay text), other integer columns take the smallest integer type that holds
    them; floats stay float64. Written back with ``to_csv``, each row has the files' text. An
    empty id is a :class:`~pipeline.errors.PipelineError`. ``columns``: read only these.
    ``numeric``: columns whose every cell must be a number (else one line naming the file, row
    and column).
    """
    ids = {c: str for c in (*categorical, *integer_ids)}
    codes = {c: _Codes(c) for c in categorical}
    header: list[str] | None = None
    parts: dict[str, list[Any]] = {}
    for path in map(Path, paths):
        offset = 0
        for chunk in pd.read_csv(path, usecols=None if columns is None else list(columns),
                                 dtype=ids, chunksize=chunk_rows):
            header = header or list(chunk.columns)
            if list(chunk.columns) != header:
                raise PipelineError(f"{path}: expected the columns {header}, got "
                                    f"{list(chunk.columns)}")
            if not len(chunk):
                continue
            _check_numbers(chunk, [c for c in numeric if c in header], path, offset)
            offset += len(chunk)
            for col in header:
                if col in codes:
                    part: Any = codes[col].encode(chunk[col], path)
                elif col in integer_ids:
                    part = _integer_ids(chunk[col], col, path)
                else:
                    part = chunk[col].to_numpy()
                parts.setdefault(col, []).append(part)
    data: dict[str, Any] = {}
    for col in header or []:
        got = parts.pop(col, [])
        if col in codes:
            data[col] = codes[col].categorical(np.concatenate(got or [np.zeros(0, np.int64)]))
        elif col in integer_ids:
            data[col] = _join_ids(got)
        else:
            data[col] = _narrow(np.concatenate(got or [np.zeros(0)]))
    return pd.DataFrame(data, columns=header)


def load_index_compact(patches_dir: str | Path, columns: Sequence[str] | None = None
                       ) -> pd.DataFrame:
    """``index.csv`` (``columns`` of it) in small types (:func:`read_compact`): a few bytes per
    candidate and id instead of a Python string per id."""
    path = Path(patches_dir) / "index.csv"
    if not path.exists():
        raise PipelineError(f"{path}: expected the patches stage's index.csv, not found")
    try:
        return read_compact([path], columns=columns)
    except ValueError as exc:  # pandas: a column of ``columns`` is not in the file
        raise PipelineError(f"{path}: expected the columns {list(columns or [])}: {exc}"
                            ) from None


def iter_index(patches_dir: str | Path, columns: Iterable[str],
               chunk_rows: int = INDEX_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """``index.csv``'s ``columns`` (ids as strings), ``chunk_rows`` rows at a time: a pass over
    the index whose memory follows the chunk, not the number of candidates."""
    path = Path(patches_dir) / "index.csv"
    if not path.exists():
        raise PipelineError(f"{path}: expected the patches stage's index.csv, not found")
    cols = list(columns)
    ids = {c: str for c in ("series_uid", "patient_id", "candidate_id", "annotation_id", "split")
           if c in cols}
    yield from pd.read_csv(path, usecols=cols, dtype=ids, chunksize=chunk_rows)


def index_patients(patches_dir: str | Path) -> dict[str, str]:
    """``{series_uid: patient_id}`` of every scan of ``index.csv`` (a later row wins)."""
    out: dict[str, str] = {}
    for chunk in iter_index(patches_dir, ("series_uid", "patient_id")):
        last = chunk.drop_duplicates("series_uid", keep="last")
        out.update(zip(last["series_uid"], last["patient_id"], strict=True))
    return out


def index_rows(patches_dir: str | Path, keys: Iterable[tuple[str, str]]
               ) -> dict[tuple[str, str], int]:
    """The ``row`` of each ``(series_uid, candidate_id)`` of ``keys`` found in ``index.csv``."""
    wanted = {(str(s), str(c)) for s, c in keys}
    out: dict[tuple[str, str], int] = {}
    for chunk in iter_index(patches_dir, ("row", "series_uid", "candidate_id")):
        if not wanted:
            break
        hit = pd.MultiIndex.from_arrays([chunk["series_uid"], chunk["candidate_id"]]).isin(
            list(wanted))
        for s, c, r in zip(chunk["series_uid"][hit], chunk["candidate_id"][hit],
                           chunk["row"][hit], strict=True):
            out[(s, c)] = int(r)
            wanted.discard((s, c))
    return out


def data_hash(patches_dir: str | Path) -> str:
    """SHA-256 over the patches folder: every file's relative path and bytes, in sorted order."""
    root = Path(patches_dir)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _item_crop(cubes: CubeSource, input_kind: str, crop: int | None, max_shift: int
               ) -> int | None:
    """``crop`` when it can be served as documented in :class:`PatchDataset`, else ``None``."""
    if crop is None or input_kind != "cube3d":
        return None
    size = int(cubes.shape[-1])
    if crop + 2 * max(max_shift, 0) > size or (size - crop) % 2:
        return None
    return int(crop)


class PatchDataset(Dataset):
    """Network inputs and labels for one split, read from the cubes row by row.

    ``cubes`` is an in-memory array or a :class:`~pipeline.data.cube_store.CubeFile`; ``rows``
    are the rows of it this split holds (default: all, in order). Nothing is computed up front:
    each item (or each batch, through ``__getitems__``) reads its cubes when asked, so memory
    follows the batch size, not the split. Without augmentation an item is
    ``model_inputs(cube)``; with augmentation it is augmented from
    ``np.random.default_rng([seed, epoch, i])`` (call :meth:`set_epoch` at the start of every
    epoch), then windowed, then given intensity noise.

    ``crop`` (3D inputs): the items are the central ``crop`` voxels of each cube, for a network
    that reads no more than that (``CNN3D.input_edge``). Augmentation then works on the central
    ``crop + 2 * max_shift`` voxels only, which gives the same values inside the crop as
    augmenting the whole cube (flips and axial rotations are about the centre, and no shift
    reaches further), at a fraction of the work. It needs ``C - crop`` even; otherwise, or when
    ``crop`` is ``None``, items are whole cubes. The unaugmented passes (:meth:`iter_inputs`)
    always give whole cubes, as ``predict`` does.
    """

    def __init__(self, cubes: CubeSource, labels: np.ndarray, input_kind: str,
                 preprocess: Mapping[str, Any], augment: bool = False, seed: int = 0,
                 noise_sigma: float = 0.02, max_shift: int = 2, intensity: float = 0.0,
                 rows: np.ndarray | None = None, crop: int | None = None) -> None:
        self.rows = (np.arange(len(cubes), dtype=np.int64) if rows is None
                     else np.asarray(rows, dtype=np.int64))
        if len(self.rows) != len(labels):
            raise PipelineError(f"expected one label per cube, got {len(labels)} labels for "
                                f"{len(self.rows)} cubes")
        self.cubes = cubes
        self.labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        self.input_kind = input_kind
        self.preprocess = dict(preprocess)
        self.augment = augment
        self.seed = seed
        self.noise_sigma = noise_sigma
        self.max_shift = max_shift
        self.intensity = intensity
        self.crop = _item_crop(cubes, input_kind, crop, max_shift)
        self.epoch = 0

    def iter_inputs(self, batch_size: int) -> Iterator[np.ndarray]:
        """Every item's input without augmentation, ``batch_size`` items at a time, in order."""
        for cubes in iter_row_chunks(self.cubes, self.rows, batch_size):
            yield model_inputs(cubes, self.input_kind, self.preprocess)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream for this epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def inputs(self, items: np.ndarray, cubes: np.ndarray) -> np.ndarray:
        """The network inputs of ``items`` (indices into this split) from their HU ``cubes``.

        Per item, the random draws come from ``default_rng([seed, epoch, item])`` in a fixed
        order (geometry, intensity, noise bytes); the float arithmetic then runs once over the
        batch, elementwise, so an item gets the same values alone or in any batch.
        """
        if self.crop is not None:
            cubes = centre_crop(cubes, self.crop + 2 * self.max_shift if self.augment
                                else self.crop)
        if not self.augment:
            return model_inputs(np.ascontiguousarray(cubes), self.input_kind, self.preprocess)
        rngs = [np.random.default_rng([self.seed, self.epoch, int(i)]) for i in items]
        edge = cubes.shape[-1] if self.crop is None else self.crop
        hu = np.empty((len(cubes), edge, edge, edge), dtype=cubes.dtype)
        for k, (cube, rng) in enumerate(zip(cubes, rngs, strict=True)):
            hu[k] = centre_crop(augment_cube(cube, rng, max_shift=self.max_shift), edge)
        x = model_inputs(hu, self.input_kind, self.preprocess)
        per_item = (len(x),) + (1,) * (x.ndim - 1)
        if self.intensity > 0:
            scale, offset = zip(*(intensity_params(rng, self.intensity) for rng in rngs),
                                strict=True)
            x = apply_intensity(x, np.array(scale).reshape(per_item),
                                np.array(offset).reshape(per_item))
        if self.noise_sigma > 0:
            x = apply_noise(x, np.stack([noise_bytes(rng, x.shape[1:]) for rng in rngs]),
                            self.noise_sigma)
        return x

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([int(i)])[0]

    def __getitems__(self, items: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One batch: its cubes read in one sorted pass, its inputs made at once
        (:meth:`inputs`)."""
        idx = np.asarray(items, dtype=np.int64)
        x = torch.from_numpy(self.inputs(idx, read_rows(self.cubes, self.rows[idx])))
        return [(x[k], self.labels[i]) for k, i in enumerate(idx.tolist())]
