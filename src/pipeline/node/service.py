"""The node: a Storage SCP, a sealing watcher, worker threads and the outbox, on one work folder.

Start order: recover the work folder (scratch cleared; arriving series, sealed series and unsent
results taken up), start the threads, then listen. Stop (SIGTERM): stop listening, let open
associations finish for a grace period, then stop taking work: the series in hand is finished
and its results queued, the send in hand is finished; everything else is already on disk and is
picked up by the next start.
"""

from __future__ import annotations

import logging
import queue
import shutil
import signal
import threading
import time
from collections import deque
from pathlib import Path
from types import FrameType

from pipeline.node.inbox import Inbox
from pipeline.node.layout import WorkDir, redact_uids
from pipeline.node.outbox import Manifest, Outbox, Sender
from pipeline.node.params import NodeParams
from pipeline.node.process import PredictProcessor, Processor
from pipeline.node.scp import StorageSCP
from pipeline.node.scu import send_files

log = logging.getLogger(__name__)

TICK_S = 0.2


class Node:
    """One running node; ``start()`` returns the port it listens on, ``stop()`` ends it."""

    def __init__(self, params: NodeParams, processor: Processor | None = None,
                 sender: Sender = send_files) -> None:
        self.params = params
        self.workdir = WorkDir(params.workdir_path)
        self.processor = processor or PredictProcessor(
            params.model_path, isolate=params.isolate,
            secondary_capture=params.secondary_capture, timeout_s=params.process_timeout_s)
        self.inbox = Inbox(self.workdir, params.quiet_seconds)
        self.outbox = Outbox(self.workdir, params.destination, params.aet, params.retry_initial_s,
                             params.retry_max_s, params.keep_copies, sender)
        self.scp = StorageSCP(params.aet, params.host, params.port, self.inbox,
                              params.max_associations)
        self.queue: queue.Queue[str] = queue.Queue(maxsize=params.queue_size)
        self._backlog: deque[str] = deque()  # sealed batches waiting for room in the queue
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.processed = 0
        self.failed = 0
        self.port = 0

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> int:
        self.workdir.create()
        self.workdir.clean_scratch()
        arriving = self.inbox.recover()
        sealed = self._recover_ready()
        unsent = self.outbox.recover()
        self.outbox.start()
        for i in range(self.params.workers):
            self._spawn(self._work, f"node-worker-{i}")
        self._spawn(self._watch, "node-watcher")
        self.port = self.scp.start()
        log.info("%s listening on %s:%d; results to %s; work folder %s (recovered: %d arriving, "
                 "%d sealed, %d unsent)", self.params.aet, self.params.host, self.port,
                 self.params.destination, self.workdir.root, arriving, sealed, unsent)
        return self.port

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop listening, finish what is in hand, persist the rest (it already is on disk)."""
        self.scp.stop_accepting()
        deadline = time.monotonic() + grace_s
        while self.scp.active() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.scp.active():
            log.warning("aborting %d association(s) still open after %.0f s", self.scp.active(),
                        grace_s)
            self.scp.abort_all()
        self._stop.set()
        for t in self._threads:
            t.join()
        self.outbox.stop()
        log.info("%s stopped: %d series processed, %d failed, %d arriving and %d sealed left on "
                 "disk, %d result(s) unsent", self.params.aet, self.processed, self.failed,
                 self.inbox.pending(), len(WorkDir.batches(self.workdir.ready)),
                 len(WorkDir.batches(self.workdir.outbox)))

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then ``stop()``."""
        stop_requested = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            stop_requested.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not stop_requested.wait(1.0):
            pass
        self.stop()

    def idle(self) -> bool:
        """Nothing arriving, sealed, in hand or unsent.

        A series is always in one of: the inbox, ``ready/`` (sealed, queued or in hand, until its
        results are in the outbox), the worker's unfinished task, the outbox; so checking them in
        this order never misses one moving between two of them.
        """
        return (self.inbox.pending() == 0 and not WorkDir.batches(self.workdir.ready)
                and self.queue.unfinished_tasks == 0 and self.outbox.pending() == 0)

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.05)
        return self.idle()

    # -- threads ----------------------------------------------------------------------------
    def _spawn(self, target: object, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _recover_ready(self) -> int:
        count = 0
        for batch in WorkDir.batches(self.workdir.ready):
            if (self.workdir.outbox / batch).is_dir():  # processed; stopped before clean-up
                self._retire_instances(batch)
            else:
                self._backlog.append(batch)
                count += 1
        return count

    def _watch(self) -> None:
        while not self._stop.wait(TICK_S):
            self._backlog.extend(self.inbox.seal_quiet())
            while self._backlog:
                try:
                    self.queue.put_nowait(self._backlog[0])
                except queue.Full:
                    break
                self._backlog.popleft()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.queue.get(timeout=TICK_S)
            except queue.Empty:
                continue
            try:
                self._process(batch)
            finally:
                self.queue.task_done()

    def _process(self, batch: str) -> None:
        source = self.workdir.ready / batch
        instances = WorkDir.instances(source)
        last_instance = max(p.stat().st_mtime for p in instances)
        scratch = self.workdir.work / batch
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "out").mkdir(parents=True)
        t0 = time.perf_counter()
        try:
            result = self.processor(source, scratch / "out")
        except Exception as exc:  # a replaceable processor: whatever it raises fails one series
            self._fail(batch, exc, time.perf_counter() - t0)
            return
        seconds = time.perf_counter() - t0
        manifest = Manifest(batch=batch, instances=len(instances), findings=result.findings,
                            processed_s=round(seconds, 3), last_instance_time=last_instance,
                            files=[])
        self.outbox.create(manifest, result.files)
        self._retire_instances(batch)
        shutil.rmtree(scratch, ignore_errors=True)
        self.processed += 1
        self.outbox.submit(batch)

    def _fail(self, batch: str, exc: BaseException, seconds: float) -> None:
        target = self.workdir.failed / batch
        (self.workdir.ready / batch).replace(target)
        (target / "reason.txt").write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
        shutil.rmtree(self.workdir.work / batch, ignore_errors=True)
        self.failed += 1
        log.error("series %s: processing failed after %.1f s (%s: %s); nothing sent, instances "
                  "kept in failed/%s", batch, seconds, type(exc).__name__, redact_uids(str(exc)),
                  batch)

    def _retire_instances(self, batch: str) -> None:
        source = self.workdir.ready / batch
        if self.params.keep_copies:
            target = self.workdir.archive / batch / "instances"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            source.replace(target)
        else:
            shutil.rmtree(source)


def run_node(params: NodeParams, processor: Processor | None = None) -> None:
    """Run a node in the foreground until SIGTERM (the ``lung-node`` command)."""
    Path(params.workdir).mkdir(parents=True, exist_ok=True)
    Node(params, processor).serve_forever()
