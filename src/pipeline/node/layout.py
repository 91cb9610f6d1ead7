"""The node's work folder: every piece of state lives here, so a restart loses nothing.

    incoming/<series>/<instance>.dcm   instances of series still arriving
    ready/<batch>/<instance>.dcm       sealed series (quiet long enough) waiting for processing
    work/<batch>/                      processing scratch (cleared at start)
    outbox/<batch>/                    results to send: *.dcm and manifest.json
    failed/<batch>/                    series whose processing failed, with reason.txt
    archive/<batch>/{instances,results}/  local copies (``keep_copies``)

``<series>`` and ``<instance>`` are SHA-256 digests of the Series / SOP Instance UIDs, so no
patient identifier (and no UID) appears in a file name; ``<batch>`` is ``<ns>-<series>`` with the
time the series was sealed, so batches sort in arrival order and a series that is sent again later
makes a new batch instead of mixing with one in hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

KEY_CHARS = 20  # 80 bits of SHA-256: no collision among the instances a node ever sees
_UID = re.compile(r"\b[0-9]+(?:\.[0-9]+){4,}\b")


def redact_uids(text: str) -> str:
    """``text`` with DICOM UIDs replaced by ``<uid>`` (for log lines at the default level)."""
    return _UID.sub("<uid>", text)


def uid_key(uid: str) -> str:
    """The file-name key of a DICOM UID."""
    return hashlib.sha256(uid.strip().encode("ascii", "replace")).hexdigest()[:KEY_CHARS]


def batch_name(series_key: str, sealed_ns: int | None = None) -> str:
    return f"{time.time_ns() if sealed_ns is None else sealed_ns:020d}-{series_key}"


def series_of_batch(batch: str) -> str:
    return batch.split("-", 1)[1]


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, fsync it and rename it onto ``path``.

    A reader (or a restarted node) sees the whole file or nothing; the data is on disk before the
    node answers Success to the sender.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class WorkDir:
    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def ready(self) -> Path:
        return self.root / "ready"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def create(self) -> None:
        for d in (self.incoming, self.ready, self.work, self.outbox, self.failed):
            d.mkdir(parents=True, exist_ok=True)

    def clean_scratch(self) -> None:
        """Remove what an interrupted run left half done: scratch and temporary files."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        for base in (self.incoming, self.ready, self.outbox):
            for tmp in base.glob("**/.*.tmp"):
                tmp.unlink(missing_ok=True)
            for tmp in base.glob(".*"):  # atomic_dir leftovers
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def batches(base: Path) -> list[str]:
        """Batch folder names under ``base``, oldest first."""
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    @staticmethod
    def instances(folder: Path) -> list[Path]:
        return sorted(folder.glob("*.dcm"))
