"""The node's settings: the ``node:`` section of ``params.yaml`` and the ``lung-node`` flags.

``NodeParams`` is validated like every params section (unknown key, wrong type or out-of-range
value -> ``ConfigError`` naming the key). The command line overrides the section key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import build, read_yaml
from pipeline.errors import ConfigError

# PS3.5 6.2: an AE title is 1-16 characters of the default repertoire, no backslash or control
# characters, and not only spaces.
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
_DEST = re.compile(r"^(?P<aet>[^@]+)@(?P<host>[^:@]+):(?P<port>\d+)$")


def check_aet(key: str, value: str) -> str:
    """``value`` as an AE title, or ``ConfigError`` naming ``key``."""
    if not _AET.match(value) or not value.strip():
        raise ConfigError(f"{key} must be an AE title of 1-16 printable ASCII characters without "
                          f"backslash, got {value!r}")
    return value


def check_port(key: str, value: int) -> int:
    if not 1 <= value <= 65535:
        raise ConfigError(f"{key} must be a TCP port 1-65535, got {value}")
    return value


@dataclass(frozen=True)
class Destination:
    """Where results go: a DICOM AE (the PACS) reached at ``host:port``."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, key: str = "node.dest") -> Destination:
        """``AET@HOST:PORT`` (e.g. ``ORTHANC@pacs.example.org:4242``)."""
        m = _DEST.match(text.strip())
        if not m:
            raise ConfigError(f"{key} must be AET@HOST:PORT, got {text!r}")
        return cls(check_aet(key, m["aet"]), m["host"], check_port(key, int(m["port"])))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeParams:
    """One node: who it is, where results go, how it processes and how hard it retries."""

    aet: str
    port: int
    dest: str                           # AET@HOST:PORT
    model: str                          # the exported ONNX model
    workdir: str                        # the node's state: received series, outbox, failures
    host: str = "0.0.0.0"               # address to listen on
    quiet_seconds: float = 10.0         # a series starts when no instance came for this long
    queue_size: int = 8                 # series waiting in memory for a worker
    workers: int = 1                    # series processed at once
    max_associations: int = 8           # incoming associations at once
    process_timeout_s: float = 900.0    # one series' processing, then it is failed
    retry_initial_s: float = 5.0        # first wait after a failed send; doubles each time
    retry_max_s: float = 300.0          # longest wait between two sends (retried forever)
    secondary_capture: bool = False     # also send a Secondary Capture of the findings picture
    keep_copies: bool = False           # keep instances and results under workdir/archive
    isolate: bool = True                # run predict in a child process (see process.py)

    def __post_init__(self) -> None:
        check_aet("node.aet", self.aet)
        check_port("node.port", self.port)
        Destination.parse(self.dest)
        for key in ("model", "workdir", "host"):
            if not getattr(self, key).strip():
                raise ConfigError(f"node.{key} must not be empty")
        for key in ("quiet_seconds", "process_timeout_s", "retry_initial_s", "retry_max_s"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"node.{key} must be > 0, got {getattr(self, key)}")
        if self.retry_max_s < self.retry_initial_s:
            raise ConfigError(f"node.retry_max_s must be >= node.retry_initial_s, got "
                              f"{self.retry_max_s} < {self.retry_initial_s}")
        for key in ("queue_size", "workers", "max_associations"):
            if getattr(self, key) < 1:
                raise ConfigError(f"node.{key} must be >= 1, got {getattr(self, key)}")

    @property
    def destination(self) -> Destination:
        return Destination.parse(self.dest)

    @property
    def model_path(self) -> Path:
        return Path(self.model)

    @property
    def workdir_path(self) -> Path:
        return Path(self.workdir)


def read_node_section(path: Path) -> dict[str, Any]:
    """The raw ``node:`` mapping of a params file (empty when it has none)."""
    section = read_yaml(path).get("node", {})
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: node must be a mapping, got {section!r}")
    return dict(section)


def node_params(section: dict[str, Any], overrides: dict[str, Any], source: str = "node"
                ) -> NodeParams:
    """``NodeParams`` from a params section with flags (not None) laid over it."""
    merged = dict(section)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return build(NodeParams, merged, "node")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if source != "node" else str(exc)) from None
