"""Small helpers for stage scripts: the one exit path, logging set-up and progress bars."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from pipeline.errors import PipelineError

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


def run_stage(main: Callable[[argparse.Namespace], int],
              parse_args: Callable[[list[str] | None], argparse.Namespace],
              argv: list[str] | None = None) -> int:
    """The one exit path of every stage script.

    A :class:`PipelineError` (bad params, bad or missing input) prints one line naming the key or
    file and exits 2 (``--verbose`` also shows the traceback); a de-identification leak exits 3.
    Anything else is a bug and keeps its traceback (exit 1).
    """
    args = parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    setup_logging(verbose)
    name = Path(main.__code__.co_filename).stem
    try:
        return main(args)
    except PipelineError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
