"""PatchDataset reads its rows from the cubes file batch by batch, with the in-memory results."""

import numpy as np
import torch

from pipeline.data.cube_store import CubeFile
from pipeline.data.datasets import PatchDataset
from pipeline.data.inputs import model_inputs
from pipeline.models.inference import predict_batches, predict_proba
from pipeline.models.registry import build_model, default_model_kwargs

PRE = {"slice_px": 8, "hu_window": [-1000.0, 400.0], "cube_size": 12}


def _file(tmp_path, n=40, c=12):
    array = np.random.default_rng(1).integers(-1024, 600, size=(n, c, c, c)).astype(np.int16)
    np.save(tmp_path / "cubes.npy", array)
    return CubeFile(tmp_path / "cubes.npy"), array


def test_dataset_holds_the_file_not_a_copy_of_its_rows(tmp_path):
    store, _ = _file(tmp_path)
    ds = PatchDataset(store, np.zeros(20, dtype=np.int64), "cube3d", PRE, rows=np.arange(20, 40))
    assert ds.cubes is store
    assert not any(isinstance(v, np.ndarray) and v.ndim == 4 for v in vars(ds).values())


def test_items_and_batches_equal_the_in_memory_dataset(tmp_path):
    store, array = _file(tmp_path)
    rows = np.array([1, 4, 5, 9, 20, 33, 39])
    labels = np.arange(len(rows)) % 2
    for augment in (False, True):
        streamed = PatchDataset(store, labels, "slice2d", PRE, augment=augment, seed=3, rows=rows)
        memory = PatchDataset(array[rows], labels, "slice2d", PRE, augment=augment, seed=3)
        streamed.set_epoch(2)
        memory.set_epoch(2)
        batch = streamed.__getitems__([6, 0, 3, 3])
        for i, (x, y) in zip([6, 0, 3, 3], batch, strict=True):
            assert torch.equal(x, memory[i][0]) and int(y) == labels[i]
            assert torch.equal(streamed[i][0], memory[i][0])


def test_streamed_inputs_and_predictions_equal_the_whole_split_at_once(tmp_path):
    store, array = _file(tmp_path)
    rows = np.arange(3, 40, 2)
    ds = PatchDataset(store, np.zeros(len(rows), dtype=np.int64), "cube3d", PRE, rows=rows)
    whole = model_inputs(array[rows], "cube3d", PRE)
    np.testing.assert_array_equal(np.concatenate(list(ds.iter_inputs(8))), whole)
    torch.manual_seed(0)
    model = build_model("cnn3d", **default_model_kwargs("cnn3d", PRE)).eval()
    expected = predict_proba(model, whole, batch_size=8)
    np.testing.assert_array_equal(predict_batches(model, ds.iter_inputs(8)), expected)
