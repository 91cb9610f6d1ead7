"""Rows of cubes.npy read on demand: the same bytes as np.load, never the whole array."""

import pickle
import tracemalloc

import numpy as np
import pytest

from pipeline.data.cube_store import CubeFile, iter_row_chunks, read_rows
from pipeline.errors import PipelineError


@pytest.fixture
def cubes(tmp_path):
    array = np.random.default_rng(0).integers(-1024, 3071, size=(50, 6, 6, 6)).astype(np.int16)
    path = tmp_path / "cubes.npy"
    np.save(path, array)
    return path, array


def test_rows_in_any_order_with_repeats_equal_np_load(cubes):
    path, array = cubes
    rows = np.array([7, 3, 3, 49, 0, 4, 5, 6, 48])
    out = CubeFile(path).read(rows)
    assert out.dtype == np.int16 and out.shape == (9, 6, 6, 6)
    np.testing.assert_array_equal(out, array[rows])


def test_chunks_cover_the_rows_in_order(cubes):
    path, array = cubes
    rows = np.arange(3, 50, 2)
    chunks = list(iter_row_chunks(CubeFile(path), rows, chunk_rows=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 4]
    np.testing.assert_array_equal(np.concatenate(chunks), array[rows])
    np.testing.assert_array_equal(read_rows(array, rows), array[rows])  # in-memory source


def test_survives_pickling_for_loader_workers(cubes):
    path, array = cubes
    store = CubeFile(path)
    store.read([1])  # opens a handle, which must not travel
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.read([2, 1]), array[[2, 1]])


def test_reading_a_chunk_allocates_the_chunk_not_the_file(tmp_path):
    path = tmp_path / "big.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=(4000, 16, 16, 16))
    store = CubeFile(path)  # 32 MB of cubes
    tracemalloc.start()
    for chunk in iter_row_chunks(store, np.arange(4000), chunk_rows=100):
        assert chunk.shape == (100, 16, 16, 16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * 100 * 16**3 * 2  # a few chunks of 800 kB, not 32 MB


def test_out_of_range_row_and_truncated_file_are_named_errors(cubes, tmp_path):
    path, _ = cubes
    with pytest.raises(PipelineError, match="row 50 out of range"):
        CubeFile(path).read([0, 50])
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(PipelineError, match="truncated"):
        CubeFile(cut)
    with pytest.raises(PipelineError, match="not found"):
        CubeFile(tmp_path / "none.npy")
