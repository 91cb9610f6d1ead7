"""Results waiting to be sent: one folder per batch, retried with backoff until stored.

``outbox/<batch>/`` holds the DICOM objects and ``manifest.json`` (what was sent, how many
attempts, when to try next). The folder is created whole (``atomic_dir``) and the manifest is
rewritten atomically after every attempt, so a restart resumes where the last run stopped. An
entry leaves the outbox only once the destination stored every object; there is no last attempt.
"""

from __future__ import annotations

import heapq
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.io import atomic_dir, read_json, write_json
from pipeline.node.layout import WorkDir
from pipeline.node.params import Destination
from pipeline.node.scu import SendError, send_files

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
Sender = Callable[[Destination, str, Sequence[Path]], list[Path]]


@dataclass
class Manifest:
    """What one outbox entry holds and how its sending went."""

    batch: str
    instances: int
    findings: int
    processed_s: float                 # processing time
    last_instance_time: float          # epoch s of the series' last received instance
    files: list[str]                   # object file names in the entry folder
    sent: list[str] = field(default_factory=list)
    attempts: int = 0
    next_attempt_time: float = 0.0     # epoch s
    last_error: str = ""

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls(**read_json(folder / MANIFEST))

    def write(self, folder: Path) -> None:
        write_json(folder / MANIFEST, asdict(self))


def backoff_s(attempts: int, initial_s: float, max_s: float) -> float:
    """Wait after the ``attempts``-th failed send: doubling from ``initial_s``, capped."""
    return float(min(max_s, initial_s * 2 ** min(attempts - 1, 30)))


class Outbox:
    """Creates entries and sends them from one thread, retrying failures for ever."""

    def __init__(self, workdir: WorkDir, dest: Destination, calling_aet: str,
                 retry_initial_s: float, retry_max_s: float, keep_copies: bool,
                 sender: Sender = send_files) -> None:
        self.workdir = workdir
        self.dest = dest
        self.calling_aet = calling_aet
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.keep_copies = keep_copies
        self._send = sender
        self._due: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._in_hand = 0
        self.latencies_s: list[float] = []  # per delivered batch: last instance -> stored

    def create(self, manifest: Manifest, files: Sequence[Path]) -> None:
        """Write the entry for ``manifest.batch`` with copies of ``files``, whole or not at all."""
        with atomic_dir(self.workdir.outbox / manifest.batch) as tmp:
            names = []
            for i, src in enumerate(files):
                name = f"{i:02d}_{src.name}"
                shutil.copyfile(src, tmp / name)
                names.append(name)
            manifest.files = names
            manifest.write(tmp)

    def submit(self, batch: str, when: float = 0.0) -> None:
        with self._cond:
            heapq.heappush(self._due, (when, batch))
            self._cond.notify()

    def recover(self) -> int:
        """Queue every entry a previous run left, at the time its manifest says."""
        batches = WorkDir.batches(self.workdir.outbox)
        for batch in batches:
            self.submit(batch, Manifest.read(self.workdir.outbox / batch).next_attempt_time)
        return len(batches)

    def pending(self) -> int:
        with self._cond:
            return len(self._due) + self._in_hand

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="node-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the send in hand, then stop; unsent entries stay on disk."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._due or self._due[0][0] > time.time()):
                    wait = None if not self._due else max(0.0, self._due[0][0] - time.time())
                    self._cond.wait(timeout=wait)
                if self._stop:
                    return
                _, batch = heapq.heappop(self._due)
                self._in_hand = 1
            try:
                self.attempt(batch)
            except Exception:  # a bug here must not end sending; the entry is kept and retried
                log.exception("batch %s: unexpected error while sending; retrying later", batch)
                self.submit(batch, time.time() + self.retry_max_s)
            finally:
                with self._cond:
                    self._in_hand = 0

    def attempt(self, batch: str) -> bool:
        """One send of one entry; True when it is done (and removed from the outbox)."""
        folder = self.workdir.outbox / batch
        m = Manifest.read(folder)
        todo = [folder / f for f in m.files if f not in m.sent]
        m.attempts += 1
        t0 = time.time()
        try:  # a series without findings has nothing to send: no association at all
            stored = self._send(self.dest, self.calling_aet, todo) if todo else []
            error = "" if len(stored) == len(todo) else "some objects were not stored"
        except SendError as exc:
            stored, error = [], str(exc)
        except OSError as exc:
            stored, error = [], f"{self.dest}: {exc.strerror or type(exc).__name__}"
        m.sent += [p.name for p in stored]
        if error:
            m.last_error = error
            wait = backoff_s(m.attempts, self.retry_initial_s, self.retry_max_s)
            m.next_attempt_time = time.time() + wait
            m.write(folder)
            log.warning("series %s: send to %s failed (attempt %d: %s); kept in the outbox, "
                        "next try in %.1f s", batch, self.dest, m.attempts, error, wait)
            self.submit(batch, m.next_attempt_time)
            return False
        m.write(folder)
        self._done(folder)
        latency = time.time() - m.last_instance_time
        self.latencies_s.append(latency)
        log.info("series %s: %d instance(s), %d finding(s), processed in %.1f s, %d object(s) "
                 "sent to %s in %.1f s (attempt %d); %.1f s from last instance to stored",
                 batch, m.instances, m.findings, m.processed_s, len(m.files), self.dest,
                 time.time() - t0, m.attempts, latency)
        return True

    def _done(self, folder: Path) -> None:
        if self.keep_copies:
            target = self.workdir.archive / folder.name / "results"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            folder.replace(target)
        else:
            shutil.rmtree(folder)
