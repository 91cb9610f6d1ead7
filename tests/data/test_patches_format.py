"""The patches format: the stage's committed-style records round trip, and the toy folder is
written by the same writer (so it reads back through every contract)."""

from __future__ import annotations

import numpy as np

from pipeline.data.folds import FOLDS
from pipeline.data.patches_format import (
    CUBES_FILE,
    PATCH_ANNOTATIONS,
    PATCH_EXCLUDED,
    PATCH_INDEX,
    PATCH_REJECTED,
    Preprocess,
)
from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
from pipeline.hu import AIR_HU
from pipeline.imaging.patches import AXES


def test_preprocess_round_trips_with_the_bytes_of_the_dict(tmp_path):
    record = Preprocess(spacing_mm=1.0, cube_size=32, hu_range=(-1024.0, 3071.0),
                        interpolator="linear", anti_alias=True, pad_hu=AIR_HU, axes=AXES)
    record.write(tmp_path / "preprocess.json")
    assert Preprocess.read(tmp_path / "preprocess.json") == record
    assert (tmp_path / "preprocess.json").read_text() == (
        '{\n  "anti_alias": true,\n  "axes": "zyx-LPS-ascending",\n  "cube_size": 32,\n'
        '  "hu_range": [\n    -1024.0,\n    3071.0\n  ],\n  "interpolator": "linear",\n'
        '  "pad_hu": -1000.0,\n  "spacing_mm": 1.0\n}\n')


def test_toy_folder_is_the_patches_format(tmp_path):
    folder = write_toy_patches(tmp_path / "p", n_candidates=12, cube_size=8, seed=3)
    index = PATCH_INDEX.read(folder / PATCH_INDEX.file)
    cubes = np.load(folder / CUBES_FILE)
    assert cubes.shape == (12, 8, 8, 8) and cubes.dtype == np.int16
    assert index["row"].tolist() == list(range(12)) and index["label"].sum() >= 1
    notes = PATCH_ANNOTATIONS.read(folder / PATCH_ANNOTATIONS.file)
    assert len(notes) == int(index["label"].sum())
    assert PATCH_REJECTED.read(folder / PATCH_REJECTED.file).empty
    assert PATCH_EXCLUDED.read(folder / PATCH_EXCLUDED.file).empty
    pre = Preprocess.read(folder / Preprocess.file)
    assert pre.cube_size == 8 and pre.pad_hu == AIR_HU and pre.axes == AXES
    folds = FOLDS.read(write_toy_folds(folder, tmp_path / "folds.csv", folds=3))
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
