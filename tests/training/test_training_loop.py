import dataclasses

import numpy as np
import pytest

from pipeline.config import CvParams, TrainParams
from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
from pipeline.training.checkpoint import (
    checkpoint_bytes,
    load_checkpoint,
    model_from_checkpoint,
)
from pipeline.training.loop import class_weights
from pipeline.training.run import fit_fold

CFG = TrainParams(model="cnn3d", seed=3, epochs=2, batch_size=16, lr=1e-3, weight_decay=1e-4,
                  balance="sampler", augment=True, early_stopping_patience=2, device="cpu",
                  num_workers=0, hu_window=(-1000.0, 400.0), slice_px=8, threshold="youden",
                  target_sensitivity=0.9)
CV = CvParams(folds=3, fold_ids=(0, 1, 2), seed=7, inner_val=0.25)


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    folder = write_toy_patches(tmp_path_factory.mktemp("patches"), n_candidates=144,
                               cube_size=16)
    write_toy_folds(folder, folder / "folds.csv", folds=3)
    return folder


def fit(patches, cfg):
    """Fold 0 of the toy cross-validation: (checkpoint, summary)."""
    result = fit_fold(patches, patches / "folds.csv", 0, cfg, CV)
    return result.checkpoint, result.summary


def test_training_twice_gives_byte_identical_checkpoints(patches):
    first, _ = fit(patches, CFG)
    second, _ = fit(patches, CFG)
    assert checkpoint_bytes(first) == checkpoint_bytes(second)


def test_a_different_seed_gives_different_weights(patches):
    first, _ = fit(patches, dataclasses.replace(CFG, epochs=1))
    other, _ = fit(patches, dataclasses.replace(CFG, epochs=1, seed=4))
    assert checkpoint_bytes(first) != checkpoint_bytes(other)


def test_training_on_separable_cubes_reaches_val_auc_above_0_9(patches):
    checkpoint, metrics = fit(patches, CFG)
    assert metrics["val_auc"] > 0.9 and metrics["heldout"]["auc"] > 0.9
    assert checkpoint["val_auc"] == metrics["val_auc"]
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= CFG.epochs


@pytest.mark.parametrize("model,balance", [("seed2d", "weighted_loss"), ("multiview", "none")])
def test_other_models_and_balancing_modes_train(patches, model, balance):
    cfg = dataclasses.replace(CFG, model=model, balance=balance, epochs=1)
    checkpoint, metrics = fit(patches, cfg)
    assert checkpoint["input_kind"] in ("slice2d", "multiview")
    assert metrics["model"] == model and metrics["epochs_run"] == 1


def test_checkpoint_round_trips_through_a_file(patches, tmp_path):
    checkpoint, _ = fit(patches, dataclasses.replace(CFG, epochs=1))
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint_bytes(checkpoint))
    loaded = load_checkpoint(path)
    assert loaded["train_params"]["model"] == "cnn3d"
    assert loaded["preprocess"]["slice_px"] == 8
    assert len(loaded["data_hash"]) == 64
    model = model_from_checkpoint(loaded)
    assert not model.training


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1]))
    assert w[0] * 3 == pytest.approx(w[1] * 1)
