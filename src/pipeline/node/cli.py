"""lung-node: a DICOM node next to your PACS. Receives CT series (C-STORE), runs predict without
candidates on each complete series, and stores the findings (a DICOM SR) back at the destination.

Settings come from the flags, or from the node: section of --params (flags win). Runs until
SIGTERM/SIGINT; everything it has received and not yet sent is kept in --workdir and taken up
at the next start. Exit codes: 0 stopped cleanly, 2 bad settings.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.node.params import NodeParams, node_params, read_node_section

EXIT_BAD_SETTINGS = 2
FLAGS = {  # flag -> NodeParams field
    "aet": "aet", "port": "port", "dest": "dest", "model": "model", "workdir": "workdir",
    "quiet_seconds": "quiet_seconds", "host": "host",
}


def parse_args(argv: list[str] | None = None, default_params: Path | None = None
               ) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lung-node", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aet", help="this node's AE title (what the PACS calls)")
    p.add_argument("--port", type=int, help="TCP port to listen on")
    p.add_argument("--dest", help="where results go: AET@HOST:PORT (the PACS)")
    p.add_argument("--model", help="the exported ONNX model (models/model.onnx)")
    p.add_argument("--workdir", help="the node's state folder (received series, outbox)")
    p.add_argument("--quiet-seconds", type=float,
                   help="start a series when no instance came for this long (default 10)")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--params", type=Path, default=default_params,
                   help="read the node: section of this params.yaml")
    p.add_argument("--verbose", action="store_true", help="debug log (names UIDs)")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> NodeParams:
    """The node's settings from ``--params`` (if given and present) and the flags."""
    section = {}
    source = "node"
    if args.params is not None:
        section = read_node_section(args.params)
        source = str(args.params)
    overrides = {field: getattr(args, flag) for flag, field in FLAGS.items()}
    missing = [f"--{flag.replace('_', '-')}" for flag in ("aet", "port", "dest", "model",
                                                          "workdir")
               if overrides[flag] is None and flag not in section]
    if missing:
        raise PipelineError(f"missing {', '.join(missing)} (flags, or the node: section of "
                            f"--params)")
    return node_params(section, overrides, source)


def setup_node_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # their INFO lines name UIDs of every C-STORE and every evidence object
        for name in ("pynetdicom", "highdicom"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None, default_params: Path | None = None) -> int:
    args = parse_args(argv, default_params)
    setup_node_logging(args.verbose)
    try:
        params = settings(args)
        if not Path(params.model).is_file():
            raise PipelineError(f"{params.model}: model not found")
        from pipeline.node.service import run_node

        run_node(params)
    except PipelineError as exc:
        print(f"lung-node: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    except OSError as exc:  # e.g. the port is taken or the work folder cannot be made
        print(f"lung-node: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
