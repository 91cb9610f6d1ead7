import numpy as np
import torch

from pipeline.data.augment import add_noise, augment_cube, random_intensity, random_shift
from pipeline.data.datasets import PatchDataset


def _cube(c=8):
    return np.random.default_rng(0).integers(-1000, 400, size=(c, c, c)).astype(np.int16)


def test_augment_keeps_shape_and_dtype():
    out = augment_cube(_cube(), np.random.default_rng(1))
    assert out.shape == (8, 8, 8) and out.dtype == np.int16


def test_augment_is_reproducible_given_the_generator_seed():
    a = augment_cube(_cube(), np.random.default_rng(5))
    b = augment_cube(_cube(), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_augment_changes_the_cube_for_some_seed():
    cube = _cube()
    assert any(not np.array_equal(augment_cube(cube, np.random.default_rng(s)), cube)
               for s in range(5))


def test_shift_fills_the_uncovered_border_with_air():
    cube = np.zeros((6, 6, 6), dtype=np.int16)
    rng = np.random.default_rng(3)
    out = random_shift(cube, rng, max_voxels=2)
    assert out.shape == cube.shape
    assert set(np.unique(out)) <= {0, -1000}


def test_noise_keeps_the_input_in_0_1():
    x = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 4, 4, 4)
    out = add_noise(x, np.random.default_rng(0), sigma=0.5)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_dataset_augmentation_depends_on_epoch_and_seed_only():
    cubes = np.stack([_cube() for _ in range(3)])
    pre = {"slice_px": 4, "hu_window": [-1000, 400]}
    ds1 = PatchDataset(cubes, np.array([0, 1, 0]), "cube3d", pre, augment=True, seed=9)
    ds2 = PatchDataset(cubes, np.array([0, 1, 0]), "cube3d", pre, augment=True, seed=9)
    ds2[0]  # drawing another item first must not change item 1
    assert np.array_equal(ds1[1][0].numpy(), ds2[1][0].numpy())
    ds1.set_epoch(1)
    assert not np.array_equal(ds1[1][0].numpy(), ds2[1][0].numpy())


def test_dataset_without_augmentation_serves_model_inputs():
    cubes = np.stack([_cube() for _ in range(2)])
    pre = {"slice_px": 4, "hu_window": [-1000, 400]}
    ds = PatchDataset(cubes, np.array([0, 1]), "slice2d", pre)
    x, y = ds[1]
    assert tuple(x.shape) == (1, 4, 4) and int(y) == 1


def test_noise_has_the_requested_standard_deviation_and_zero_mean():
    x = np.full((1, 32, 32, 32), 0.5, dtype=np.float32)
    out = add_noise(x, np.random.default_rng(2), sigma=0.02)
    assert out.dtype == np.float32
    assert abs(float((out - x).mean())) < 1e-3
    assert abs(float((out - x).std()) - 0.02) < 1e-3


def test_intensity_jitter_is_an_affine_map_within_its_amount():
    x = np.linspace(0.2, 0.8, 64, dtype=np.float32).reshape(1, 4, 4, 4)
    out = random_intensity(x, np.random.default_rng(4), amount=0.05)
    slope, offset = np.polyfit(x.ravel(), out.ravel(), 1)
    assert out.dtype == np.float32 and not np.allclose(out, x)
    assert abs(slope - 1) <= 0.05 + 1e-5 and abs(offset) <= 0.05 + 1e-5
    assert random_intensity(x, np.random.default_rng(4), amount=0.0) is x


def _cubes(n=4, c=16):
    rng = np.random.default_rng(7)
    return rng.integers(-1000, 400, size=(n, c, c, c)).astype(np.int16)


def test_a_cropped_item_is_the_crop_of_the_whole_item():
    # noise off (its bytes follow the input's shape); geometry and intensity draws are the same
    from pipeline.data.augment import centre_crop

    pre = {"slice_px": 4, "hu_window": [-1000, 400]}
    cubes, labels = _cubes(), np.array([0, 1, 0, 1])
    kw = {"augment": True, "seed": 3, "noise_sigma": 0.0, "intensity": 0.05, "max_shift": 2}
    whole = PatchDataset(cubes, labels, "cube3d", pre, **kw)
    cropped = PatchDataset(cubes, labels, "cube3d", pre, crop=8, **kw)
    assert cropped.crop == 8 and whole.crop is None
    for epoch in (0, 1, 2):
        whole.set_epoch(epoch)
        cropped.set_epoch(epoch)
        for i in range(4):
            x = cropped[i][0].numpy()
            assert x.shape == (1, 8, 8, 8)
            np.testing.assert_array_equal(x, centre_crop(whole[i][0].numpy(), 8))
    plain = PatchDataset(cubes, labels, "cube3d", pre, crop=8)
    np.testing.assert_array_equal(plain[2][0].numpy(), centre_crop(
        PatchDataset(cubes, labels, "cube3d", pre)[2][0].numpy(), 8))


def test_a_crop_that_cannot_be_served_exactly_gives_whole_cubes():
    pre = {"slice_px": 4, "hu_window": [-1000, 400]}
    cubes, labels = _cubes(), np.zeros(4, dtype=np.int64)
    assert PatchDataset(cubes, labels, "cube3d", pre, crop=7).crop is None   # 16 - 7 is odd
    assert PatchDataset(cubes, labels, "cube3d", pre, crop=14).crop is None  # 14 + 2 * 2 > 16
    assert PatchDataset(cubes, labels, "slice2d", pre, crop=8).crop is None  # 2D: whole cube
    assert PatchDataset(cubes, labels, "cube3d", pre, crop=14, max_shift=1).crop == 14


def test_an_item_gets_the_same_input_alone_and_in_any_batch():
    pre = {"slice_px": 4, "hu_window": [-1000, 400]}
    for kind in ("cube3d", "slice2d", "multiview"):
        ds = PatchDataset(_cubes(), np.array([0, 1, 0, 1]), kind, pre, augment=True, seed=5,
                          intensity=0.05, crop=8 if kind == "cube3d" else None)
        ds.set_epoch(4)
        batch = ds.__getitems__([3, 1, 3, 0])
        for (x, y), i in zip(batch, [3, 1, 3, 0], strict=True):
            alone, label = ds[i]
            assert torch.equal(x, alone) and int(y) == int(label)
