"""The checkpoint's typed view: every reader checks its keys; a missing or mistyped key is one
line naming the file and the key."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import InputError
from pipeline.training.checkpoint import (
    Checkpoint,
    checkpoint_bytes,
    load_checkpoint,
    read_checkpoint,
)

BASE = {"model_name": "seed2d", "model_kwargs": {}, "input_kind": "slice2d",
        "state_dict": {"w": torch.zeros(2)}, "preprocess": {"cube_size": 8, "slice_px": 8},
        "train_params": {"lr": 0.001}, "data_hash": "abc", "best_epoch": 2, "val_auc": 0.75}


def test_round_trip_with_and_without_the_fold_keys(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint_bytes(BASE))
    view = read_checkpoint(path)
    assert view.fold is None and view.best_epoch == 2 and view.input_kind == "slice2d"
    assert set(view.to_dict()) == set(BASE)
    fold = {**BASE, "fold": 1, "threshold": 0.4, "folds_hash": "def"}
    path.write_bytes(checkpoint_bytes(fold))
    assert read_checkpoint(path).threshold == 0.4
    assert set(Checkpoint.from_dict(fold).to_dict()) == set(fold)
    assert checkpoint_bytes(fold) == checkpoint_bytes(fold)


@pytest.mark.parametrize("change, message", [
    ({"best_epoch": "2"}, "key 'best_epoch': expected an integer"),
    ({"val_auc": None}, "key 'val_auc': expected a number"),
    ({"fold": 1.0}, "key 'fold': expected an integer or null"),
])
def test_a_mistyped_key_names_file_and_key(tmp_path, change, message):
    path = tmp_path / "model.pt"
    torch.save({**BASE, **change}, path)
    with pytest.raises(InputError) as exc:
        load_checkpoint(path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    with pytest.raises(InputError, match=message):
        checkpoint_bytes({**BASE, **change})


def test_a_missing_key_names_file_and_key(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({k: v for k, v in BASE.items() if k != "data_hash"}, path)
    with pytest.raises(InputError, match=r"model.pt: not a pipeline checkpoint, missing keys "
                                         r"\['data_hash'\]"):
        load_checkpoint(path)
