"""Chunked passes over the patches' index.csv give what the whole table gives."""

import pytest

from pipeline.data.datasets import index_patients, index_rows, iter_index, load_index
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
