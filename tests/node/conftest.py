"""Fixtures for tests/node (helpers in node_helpers.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from node_helpers import FakePACS, RecordingProcessor, node_params

from pipeline.node.params import NodeParams
from pipeline.node.service import Node


@pytest.fixture(autouse=True)
def _node_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The node's INFO lines (the health line among them) are captured; the libraries' are not."""
    for name in ("pynetdicom", "highdicom"):
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.INFO, logger="pipeline")  # last: it also sets the handler's level


@pytest.fixture
def pacs() -> Iterator[FakePACS]:
    server = FakePACS().start()
    yield server
    server.stop()


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """``start_node(params, processor) -> started Node``; every node is stopped at the end."""
    started: list[Node] = []

    def start(params: NodeParams, processor: object | None = None) -> Node:
        node = Node(params, processor or RecordingProcessor())  # type: ignore[arg-type]
        node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        if not node._stop.is_set():
            node.stop(grace_s=1.0)


@pytest.fixture
def params_for(tmp_path: Path) -> Callable[..., NodeParams]:
    def make(dest: str, **kwargs: object) -> NodeParams:
        return node_params(tmp_path, dest, **kwargs)

    return make
