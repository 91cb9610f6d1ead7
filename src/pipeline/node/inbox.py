"""Received instances, grouped by series on disk, sealed into a batch when the series is quiet.

A series is complete, as far as a Storage SCP can know, when no new instance of it came for
``quiet_seconds`` (DICOM has no "end of series" message; PS3.4 Annex B stores instances one by
one). Sealing renames ``incoming/<series>`` to ``ready/<batch>`` in one step, under the same lock
that a C-STORE takes before writing into the folder, and only while no write is in flight, so an
instance is never split from its series nor lost between the two folders.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.node.layout import WorkDir, batch_name, uid_key, write_durably

log = logging.getLogger(__name__)


@dataclass
class _Arriving:
    last_s: float       # monotonic time of the last instance (or of the node's start)
    in_flight: int = 0  # C-STOREs writing into the folder right now


class Inbox:
    """Thread-safe store of arriving series; ``seal_quiet`` hands complete ones on."""

    def __init__(self, workdir: WorkDir, quiet_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workdir = workdir
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._series: dict[str, _Arriving] = {}
        self.last_instance_wall: dict[str, float] = {}  # batch -> wall time of its last instance

    def recover(self) -> int:
        """Take up series left in ``incoming/`` by a previous run; their quiet time restarts."""
        now = self._clock()
        with self._lock:
            for folder in self.workdir.incoming.iterdir():
                if folder.is_dir() and not folder.name.startswith("."):
                    self._series.setdefault(folder.name, _Arriving(now))
            return len(self._series)

    def store(self, series_uid: str, sop_instance_uid: str, data: bytes) -> str:
        """Write one encoded instance (file meta + data set) durably; returns the series key."""
        key = uid_key(series_uid)
        folder = self.workdir.incoming / key
        with self._lock:
            state = self._series.setdefault(key, _Arriving(self._clock()))
            state.in_flight += 1
            state.last_s = self._clock()
            folder.mkdir(parents=True, exist_ok=True)
        try:
            write_durably(folder / f"{uid_key(sop_instance_uid)}.dcm", data)
        finally:
            with self._lock:
                state.in_flight -= 1
                state.last_s = self._clock()
        return key

    def pending(self) -> int:
        """Series still arriving."""
        with self._lock:
            return len(self._series)

    def seal_quiet(self) -> list[str]:
        """Move every quiet series to ``ready/``; returns the new batch names, oldest first."""
        now = self._clock()
        sealed = []
        with self._lock:
            for key, state in sorted(self._series.items(), key=lambda kv: kv[1].last_s):
                if state.in_flight or now - state.last_s < self.quiet_seconds:
                    continue
                del self._series[key]
                source = self.workdir.incoming / key
                if not source.is_dir() or not WorkDir.instances(source):
                    continue
                batch = batch_name(key)
                n = len(WorkDir.instances(source))
                os.replace(source, self.workdir.ready / batch)
                self.last_instance_wall[batch] = time.time() - (now - state.last_s)
                log.info("series %s: %d instance(s) received, quiet for %g s: queued as %s",
                         key, n, self.quiet_seconds, batch)
                sealed.append(batch)
        return sealed
