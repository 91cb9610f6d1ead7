"""Small helpers for stage scripts: the report a stage returns, the one exit path, logging set-up
and progress bars."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from pipeline.errors import PipelineError

T = TypeVar("T")


class StageReport(ABC):
    """What a stage's library entry point (``pipeline.stages.<stage>.run``) returns.

    ``run`` has done the work and written the stage's main output atomically; ``write(...)`` puts
    the stage's records (metrics, reports, fingerprint parts) at the paths the script was given;
    ``summary()`` is the one line the script prints; errors are raised, never returned.
    """

    @property
    def exit_code(self) -> int:
        """What the stage script returns when nothing was raised (0 unless a stage documents
        otherwise, as ``ingest``'s 1 for a folder with no usable series)."""
        return 0

    @abstractmethod
    def write(self, *args: Any, **kwargs: Any) -> None:
        """Write the stage's records to the paths the script was given."""

    @abstractmethod
    def summary(self) -> str:
        """The one line the stage script prints (empty: print nothing)."""


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


def run_stage(main: Callable[[argparse.Namespace], StageReport],
              parse_args: Callable[[list[str] | None], argparse.Namespace],
              argv: list[str] | None = None) -> int:
    """The one exit path of every stage script: ``main(args)`` returns the stage's report (its
    records already written); its summary line goes to stdout and its exit code is returned.

    A :class:`PipelineError` (bad params, bad or missing input) prints one line naming the key or
    file and exits 2 (``--verbose`` also shows the traceback); a de-identification leak exits 3.
    Anything else is a bug and keeps its traceback (exit 1).
    """
    args = parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    setup_logging(verbose)
    name = Path(main.__code__.co_filename).stem
    try:
        report = main(args)
    except PipelineError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    line = report.summary()
    if line:
        print(line)
    return report.exit_code
