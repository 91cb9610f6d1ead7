"""Chunked passes over the patches' index.csv and compact tables give what the whole table
gives."""

import numpy as np
import pandas as pd
import pytest

from pipeline.data.datasets import (
    index_patients,
    index_rows,
    iter_index,
    load_index,
    load_index_compact,
    read_compact,
)
from pipeline.data.toy_patches import write_toy_patches
from pipeline.errors import PipelineError


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    return write_toy_patches(tmp_path_factory.mktemp("idx") / "patches", n_candidates=30,
                             cube_size=8, candidates_per_scan=4, seed=5)


def test_iter_index_yields_the_columns_in_chunks_with_ids_as_text(patches):
    chunks = list(iter_index(patches, ("row", "series_uid", "candidate_id"), chunk_rows=7))
    assert [len(c) for c in chunks] == [7, 7, 7, 7, 2]
    whole = load_index(patches)
    joined = [v for c in chunks for v in c["candidate_id"]]
    assert joined == whole["candidate_id"].tolist() and all(isinstance(v, str) for v in joined)
    assert list(chunks[0].columns) == ["row", "series_uid", "candidate_id"]


def test_index_patients_maps_every_series_to_its_patient(patches):
    whole = load_index(patches)
    assert index_patients(patches) == dict(zip(whole["series_uid"], whole["patient_id"],
                                               strict=True))
    assert len(index_patients(patches)) == 8  # 30 candidates, 4 per scan


def test_index_rows_finds_the_rows_of_the_keys_asked_and_only_those(patches):
    whole = load_index(patches)
    picked = whole.iloc[[0, 13, 29]]
    keys = list(zip(picked["series_uid"], picked["candidate_id"], strict=True))
    got = index_rows(patches, [*keys, ("1.2.3.nowhere", "0")])
    assert got == {k: int(r) for k, r in zip(keys, picked["row"], strict=True)}
    assert index_rows(patches, []) == {}


def test_a_missing_index_is_a_named_error(tmp_path):
    with pytest.raises(PipelineError, match="index.csv"):
        index_patients(tmp_path)


def test_load_index_compact_holds_small_types_and_writes_the_same_text(patches):
    cols = ["row", "series_uid", "patient_id", "candidate_id", "coordX", "label"]
    compact = load_index_compact(patches, cols)
    whole = load_index(patches)[cols]
    assert isinstance(compact["series_uid"].dtype, pd.CategoricalDtype)
    assert compact["label"].dtype == np.int8 and compact["row"].dtype == np.int8
    assert compact["candidate_id"].tolist()[:2] == ["C00000", "C00001"]  # text ids stay text
    assert compact.to_csv(index=False, float_format="%.6f") == whole.to_csv(
        index=False, float_format="%.6f")
    with pytest.raises(PipelineError, match="index.csv: expected the columns"):
        load_index_compact(patches, ["row", "no_such_column"])


def test_read_compact_shares_categories_across_files_and_keeps_odd_ids_as_text(tmp_path):
    a = pd.DataFrame({"series_uid": ["s2", "s1", "s2"], "candidate_id": ["7", "10", "3"],
                      "x": [1.5, 2.0, 3.25]})
    b = pd.DataFrame({"series_uid": ["s3", "s1"], "candidate_id": ["007", "12"],
                      "x": [4.0, 5.0]})
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    got = read_compact([tmp_path / "a.csv", tmp_path / "b.csv"], categorical=("series_uid",),
                       chunk_rows=2)
    assert got["series_uid"].tolist() == ["s2", "s1", "s2", "s3", "s1"]
    assert list(got["series_uid"].cat.categories) == ["s1", "s2", "s3"]
    assert got["candidate_id"].tolist() == ["7", "10", "3", "007", "12"]  # "007" is not an int
    only_a = read_compact([tmp_path / "a.csv"], categorical=("series_uid",))
    assert only_a["candidate_id"].tolist() == [7, 10, 3]
    b.assign(series_uid=["s3", None]).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(PipelineError, match="c.csv: series_uid is empty"):
        read_compact([tmp_path / "c.csv"], categorical=("series_uid",))
