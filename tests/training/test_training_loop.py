import dataclasses

import numpy as np
import pytest
import torch

from pipeline.data.cv_params import CvParams
from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
from pipeline.training.checkpoint import (
    checkpoint_bytes,
    load_checkpoint,
    model_from_checkpoint,
)
from pipeline.training.loop import class_weights, make_loader, make_scheduler
from pipeline.training.params import TrainParams
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
    cfg = dataclasses.replace(CFG, epochs=4, early_stopping_patience=4)
    checkpoint, metrics = fit(patches, cfg)
    assert metrics["val_auc"] > 0.9 and metrics["heldout"]["auc"] > 0.9
    assert checkpoint["val_auc"] == metrics["val_auc"]
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= cfg.epochs


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


def test_cosine_schedule_warms_up_then_decays_to_zero():
    cfg = dataclasses.replace(CFG, epochs=4, lr_schedule="cosine", warmup_epochs=1, lr=1e-2)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = make_scheduler(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[5] == pytest.approx(1e-2)
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6], strict=True))
    assert all(a > b for a, b in zip(lrs[5:-1], lrs[6:], strict=True))
    assert lrs[-1] < 1e-3


def test_constant_schedule_keeps_the_learning_rate():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = make_scheduler(opt, CFG, steps_per_epoch=3)
    for _ in range(6):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 1e-3


def test_loader_serves_only_full_batches(patches):
    from pipeline.data.datasets import PatchDataset
    cubes = np.load(patches / "cubes.npy")[:64]
    labels = np.arange(64) % 3 == 0
    ds = PatchDataset(cubes, labels.astype(np.int64), "cube3d", {"hu_window": [-1000, 400]})
    loader = make_loader(ds, dataclasses.replace(CFG, batch_size=24), torch.Generator())
    assert [len(y) for _, y in loader] == [24, 24]  # 64 items: the short batch of 16 is dropped


def test_cosine_and_ema_training_is_deterministic_and_uses_the_average(patches):
    cfg = dataclasses.replace(CFG, lr_schedule="cosine", warmup_epochs=1, ema_decay=0.9)
    first, _ = fit(patches, cfg)
    second, _ = fit(patches, cfg)
    plain, _ = fit(patches, dataclasses.replace(cfg, ema_decay=0.0))
    assert checkpoint_bytes(first) == checkpoint_bytes(second)
    assert set(first["state_dict"]) == set(plain["state_dict"])
    assert checkpoint_bytes(first) != checkpoint_bytes(plain)


def test_loader_workers_do_not_change_the_weights(patches):
    cfg = dataclasses.replace(CFG, epochs=2)
    in_process, _ = fit(patches, cfg)
    with_workers, _ = fit(patches, dataclasses.replace(cfg, num_workers=2))
    a, b = in_process["state_dict"], with_workers["state_dict"]  # train_params differ
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_tta_flips_scores_the_held_out_fold_as_the_flip_average(patches):
    from pipeline.data.datasets import PatchDataset, load_index, load_preprocess
    from pipeline.models.inference import predict_batches
    from pipeline.models.tta import FlipAverage
    from pipeline.training.run import model_preprocess, open_cubes

    plain = fit_fold(patches, patches / "folds.csv", 0, CFG, CV)
    flips = fit_fold(patches, patches / "folds.csv", 0, dataclasses.replace(CFG, tta="flips"), CV)
    # the same training: tta changes the scores of the trained weights, not the weights
    for key, value in plain.checkpoint["state_dict"].items():
        assert torch.equal(value, flips.checkpoint["state_dict"][key])
    assert "tta" not in plain.checkpoint["train_params"]  # older checkpoints stay byte-identical
    assert flips.checkpoint["train_params"]["tta"] == "flips"
    model = model_from_checkpoint(flips.checkpoint)
    rows = flips.oof["candidate_id"].astype(str)
    index = load_index(patches)
    held = index.set_index("candidate_id").loc[rows.tolist(), "row"].to_numpy()
    pre = model_preprocess(load_preprocess(patches), CFG)
    ds = PatchDataset(open_cubes(patches), index.loc[held, "label"].to_numpy(), "cube3d", pre,
                      rows=held)
    expected = predict_batches(FlipAverage(model, 3), ds.iter_inputs(64))
    np.testing.assert_allclose(flips.oof["probability"], np.round(expected, 6), atol=2e-6)
    assert not np.allclose(flips.oof["probability"], plain.oof["probability"], atol=1e-4)


def test_platt_calibration_maps_the_held_out_scores_monotonically_and_is_recorded(patches):
    from pipeline.models.calibration import apply_platt

    plain = fit_fold(patches, patches / "folds.csv", 0, CFG, CV)
    cal = fit_fold(patches, patches / "folds.csv", 0,
                   dataclasses.replace(CFG, calibration="platt"), CV)
    assert "calibration" not in plain.checkpoint and "calibration" not in plain.summary
    assert "calibration" not in plain.checkpoint["train_params"]
    a, b = cal.checkpoint["calibration"]
    assert cal.checkpoint["train_params"]["calibration"] == "platt"
    assert cal.summary["calibration"] == {"method": "platt", "a": round(a, 6), "b": round(b, 6)}
    # the same weights, the held-out scores through sigmoid(a * logit(p) + b), computed in the
    # float32 graph: a toy model's scores lie close together, so a is large (thousands) and
    # magnifies the float32 rounding of the logit difference (~4e-7) by a / 4 in probability
    p = _held_out_scores(patches, model_from_checkpoint(plain.checkpoint), plain.oof)
    q = cal.oof["probability"].to_numpy()
    np.testing.assert_allclose(q, apply_platt(p, a, b), atol=1e-5 + abs(a) * 1e-7)
    assert not np.allclose(p, q, atol=1e-3)
    assert np.all(np.diff(q[np.argsort(p)]) >= 0)


def _held_out_scores(patches, network, oof):
    from pipeline.data.datasets import PatchDataset, load_index, load_preprocess
    from pipeline.models.inference import predict_batches
    from pipeline.training.run import model_preprocess, open_cubes

    index = load_index(patches)
    held = index.set_index("candidate_id").loc[oof["candidate_id"].astype(str).tolist(),
                                               "row"].to_numpy()
    pre = model_preprocess(load_preprocess(patches), CFG)
    ds = PatchDataset(open_cubes(patches), index.loc[held, "label"].to_numpy(), "cube3d", pre,
                      rows=held)
    return predict_batches(network, ds.iter_inputs(64))
