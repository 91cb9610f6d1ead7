"""The executor interface: same results, same order, whichever engine runs the map."""

import pytest

from pipeline.errors import ConfigError
from pipeline.parallel import ExecutorParams, map_items


def _square(x: int) -> int:
    return x * x


def test_local_pool_returns_results_in_input_order():
    items = list(range(20, 0, -1))
    assert map_items(_square, items, ExecutorParams(jobs=2)) == [x * x for x in items]


def test_in_process_and_pool_give_identical_results():
    items = list(range(7))
    assert map_items(_square, items, ExecutorParams(jobs=1)) == map_items(
        _square, items, ExecutorParams(jobs=2))


def test_empty_input_gives_empty_output():
    assert map_items(_square, [], ExecutorParams(jobs=2)) == []


def test_invalid_jobs_is_a_config_error():
    with pytest.raises(ConfigError, match="jobs must be >= 1"):
        ExecutorParams(jobs=0)


def test_dask_local_cluster_gives_same_results_as_local_pool():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        dask_exec = ExecutorParams(kind="dask", address=cluster.scheduler_address)
        items = list(range(10))
        assert map_items(_square, items, dask_exec) == map_items(
            _square, items, ExecutorParams(jobs=2))
