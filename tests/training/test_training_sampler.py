"""The balanced sampler at the default ratio (unchanged) and at LUNA16's 1:500."""

import numpy as np
import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.training.distributed import ShardedSampler
from pipeline.training.loop import EpochSampler, class_weights, epoch_indices
from pipeline.training.params import TrainParams


def _luna_like(n=50_000, positives=100):
    labels = np.zeros(n, dtype=np.int64)
    labels[np.random.default_rng(0).choice(n, positives, replace=False)] = 1
    return labels


def test_default_sampler_is_the_balanced_draw_with_replacement_it_always_was():
    labels = np.array([0] * 24 + [1] * 2)
    g = torch.Generator()
    g.manual_seed(11 + 1_000_003 * 3)
    w = torch.as_tensor(class_weights(labels)[labels], dtype=torch.double)
    expected = torch.multinomial(w, len(labels), replacement=True, generator=g).tolist()
    sampler = EpochSampler(labels, "sampler", seed=11)
    sampler.set_epoch(3)
    assert list(sampler) == expected and len(sampler) == len(labels)


def test_at_1_to_500_an_epoch_holds_every_positive_and_k_negatives_each():
    labels = _luna_like()
    sampler = EpochSampler(labels, "sampler", seed=4, negatives_per_positive=5)
    items = np.array(list(sampler))
    assert len(items) == len(sampler) == 100 * 6
    assert sorted(items[labels[items] == 1]) == sorted(np.flatnonzero(labels))
    negatives = items[labels[items] == 0]
    assert len(negatives) == 500 and len(set(negatives)) == 500


def test_consecutive_epochs_walk_through_every_negative():
    labels = _luna_like(n=5_100, positives=100)  # 5000 negatives, 500 per epoch
    seen: set[int] = set()
    for epoch in range(10):
        items = epoch_indices(labels, "sampler", 9, epoch, negatives_per_positive=5).numpy()
        seen |= set(items[labels[items] == 0].tolist())
    assert seen == set(np.flatnonzero(labels == 0).tolist())


def test_the_bounded_epoch_is_reproducible_and_the_same_on_every_rank():
    labels = _luna_like()
    a = epoch_indices(labels, "sampler", 2, 1, negatives_per_positive=3)
    b = epoch_indices(labels, "sampler", 2, 1, negatives_per_positive=3)
    assert torch.equal(a, b)
    shards = [ShardedSampler(labels, "sampler", 2, r, 2, negatives_per_positive=3)
              for r in range(2)]
    for s in shards:
        s.set_epoch(1)
    merged = [i for pair in zip(*[list(s) for s in shards], strict=True) for i in pair]
    assert merged == a.tolist() and sum(len(s) for s in shards) == len(a)


def test_few_negatives_are_all_taken_once():
    labels = np.array([1] * 10 + [0] * 15)
    items = epoch_indices(labels, "sampler", 0, 0, negatives_per_positive=4).numpy()
    assert sorted(items.tolist()) == list(range(25))


def test_negatives_per_positive_needs_the_sampler():
    base = dict(model="seed2d", seed=1, epochs=1, batch_size=4, lr=1e-3, weight_decay=0.0,
                augment=False, early_stopping_patience=1, device="cpu", num_workers=0,
                hu_window=(-1000.0, 400.0), slice_px=8, threshold="youden",
                target_sensitivity=0.9)
    with pytest.raises(ConfigError, match="train.negatives_per_positive applies to balance"):
        TrainParams(**base, balance="none", negatives_per_positive=2)
    with pytest.raises(ConfigError, match="negatives_per_positive must be >= 0"):
        TrainParams(**base, balance="sampler", negatives_per_positive=-1)
