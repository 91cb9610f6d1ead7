"""Small helpers for stage scripts: logging set-up and progress bars."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr with the stage's name; INFO by default, DEBUG with ``--verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def progress_enabled() -> bool:
    """Progress bars only for a person at a terminal, never under CI."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar that disables itself when not a TTY or under CI."""
    yield from tqdm(items, desc=desc, total=total, disable=not progress_enabled(), leave=False)
