"""Score lung-nodule candidates on a DICOM folder with the exported ONNX model (no PyTorch needed).

Candidates are a CSV of world coordinates in mm with LUNA16's columns: seriesuid (optional when
the folder holds one series), coordX, coordY, coordZ; other columns are kept. The output is the
same rows plus probability, prediction (at the model's operating threshold), status and reason.
Exit codes: 0 done (see status/reason for candidates that could not be scored), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_params
from pipeline.errors import PipelineError
from pipeline.export.predict import SCORED, predict_folder
from pipeline.io import read_csv, write_csv

EXIT_UNUSABLE = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lung-predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dicom", type=Path, required=True, help="folder of DICOM files (any layout)")
    p.add_argument("--candidates", type=Path, required=True, help="CSV of world coordinates")
    p.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    p.add_argument("--output", type=Path, required=True, help="CSV written atomically")
    p.add_argument("--params", type=Path, default=None,
                   help="take the ingest checks from this params.yaml (default: built-in)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run predict; returns the exit code."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.params is not None:
            params = load_params(args.params)
            ingest, executor = params.ingest, params.executor.with_jobs(params.ingest.jobs)
        else:
            ingest, executor = None, None
        if not args.candidates.is_file():
            raise PipelineError(f"{args.candidates}: candidates CSV not found")
        candidates = read_csv(args.candidates)
        result = predict_folder(args.dicom, candidates, args.model, ingest, executor,
                                batch_size=args.batch_size, source=str(args.candidates))
    except PipelineError as exc:
        print(f"lung-predict: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    write_csv(args.output, result.table)
    status = result.table["status"]
    skipped = status[status != SCORED].value_counts().sort_index()
    detail = ", ".join(f"{n} {s}" for s, n in skipped.items())
    print(f"scored {int((status == SCORED).sum())} of {len(status)} candidates in "
          f"{result.series_scored} series -> {args.output}"
          + (f" (not scored: {detail})" if detail else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
