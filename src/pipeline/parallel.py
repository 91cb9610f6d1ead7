"""Map a function over items (series, files) on a local process pool or a dask.distributed cluster.

One small interface, two engines, no scheduler of our own:

- ``executor: local``: ``jobs == 1`` runs in-process (easy to debug, no pickling); ``jobs > 1`` uses
  ``concurrent.futures.ProcessPoolExecutor``.
- ``executor: dask``: ``distributed.Client(address)`` on an existing scheduler; tasks are pure
  functions of their inputs, so results are identical whichever engine ran them.

Local pool workers die with the stage that started them: each sets ``PR_SET_PDEATHSIG`` (Linux)
and also watches its parent's pid, so a ``kill -9`` of the stage never leaves orphans waiting on a
queue forever. Tasks carry no secret: anything a worker needs that must not travel in a pickle
(the de-identification key) is read by the worker from its own environment or a file.

Results always come back in the order of the inputs. ``fn`` must be a picklable top-level
function; per-item failures should be returned as values (e.g. a rejected row), not raised, so one
bad series never stops a cohort.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from pipeline.cli import progress
from pipeline.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker when process ``parent_pid`` ends (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watcher thread below still ends the worker
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


@dataclass(frozen=True)
class ExecutorParams:
    """Run a map on a ``local`` pool of ``jobs`` processes, or on ``dask`` at ``address``."""

    kind: Literal["local", "dask"] = "local"
    jobs: int = 1
    address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("local", "dask"):
            raise ConfigError(f"executor.kind must be 'local' or 'dask', got {self.kind!r}")
        if self.jobs < 1:
            raise ConfigError(f"jobs must be >= 1, got {self.jobs}")
        if self.kind == "dask" and not self.address:
            raise ConfigError("executor.address is required when executor.kind is 'dask' "
                              "(e.g. tcp://scheduler:8786)")


@dataclass(frozen=True)
class ExecutorSection:
    """``executor:`` of ``params.yaml``: where map-over-series work runs; ``jobs`` comes from
    each stage's own section."""

    kind: Literal["local", "dask"]
    address: str | None

    def with_jobs(self, jobs: int) -> ExecutorParams:
        return ExecutorParams(kind=self.kind, jobs=jobs, address=self.address)


def map_items(fn: Callable[[T], R], items: Iterable[T], executor: ExecutorParams,
              desc: str = "items", chunksize: int = 1) -> list[R]:
    """Apply ``fn`` to every item and return the results in input order."""
    seq: Sequence[T] = list(items)
    if not seq:
        return []
    if executor.kind == "dask":
        return _map_dask(fn, seq, executor.address or "", desc)
    if executor.jobs == 1 or len(seq) == 1:
        return [fn(item) for item in progress(seq, desc=desc, total=len(seq))]
    workers = min(executor.jobs, len(seq))
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        return list(progress(pool.map(fn, seq, chunksize=chunksize), desc=desc, total=len(seq)))


def _map_dask(fn: Callable[[T], R], seq: Sequence[T], address: str, desc: str) -> list[R]:
    from distributed import Client

    log.info("running %d %s on dask scheduler %s", len(seq), desc, address)
    with Client(address) as client:
        futures = client.map(fn, seq, pure=False)
        return list(client.gather(futures))
