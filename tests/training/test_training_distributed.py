import numpy as np

from pipeline.training.distributed import DistInfo, ShardedSampler


def _shards(balance, world=2, epoch=0):
    labels = np.array([0] * 9 + [1] * 3)
    samplers = [ShardedSampler(labels, balance, seed=5, rank=r, world_size=world)
                for r in range(world)]
    for s in samplers:
        s.set_epoch(epoch)
    return [list(s) for s in samplers]


def test_shards_of_a_permutation_partition_the_training_set():
    a, b = _shards("none")
    assert sorted(a + b) == list(range(12)) and len(a) == len(b) == 6


def test_every_rank_draws_the_same_stream_and_epochs_differ():
    assert _shards("sampler") == _shards("sampler")
    assert _shards("sampler", epoch=0) != _shards("sampler", epoch=1)


def test_single_process_is_not_distributed():
    assert not DistInfo().enabled and DistInfo().is_main
