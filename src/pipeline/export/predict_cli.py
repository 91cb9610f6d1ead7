"""Find and score lung nodules on a DICOM folder with the exported ONNX model (no PyTorch needed).

Without --candidates, every usable series under --dicom is searched by the candidate generator
and the output has one row per candidate: seriesuid, coordX, coordY, coordZ (world mm, LPS),
probability, prediction (at the model's operating threshold), diameter_mm, status, reason; a
series that cannot be used gives one row with its status and reason. --report DIR also writes
DIR/index.html, one PNG per finding and a DICOM SR (sr.dcm, or sr_<n>.dcm per series).

With --candidates, a CSV of world coordinates in mm with LUNA16's columns: seriesuid (optional
when the folder holds one series), coordX, coordY, coordZ; other columns are kept. The output is
the same rows plus probability, prediction, status and reason.
Exit codes: 0 done (see status/reason for rows that could not be scored), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_section
from pipeline.detection.params import load_candidate_params
from pipeline.dicom.params import IngestParams
from pipeline.errors import PipelineError
from pipeline.export.predict import SCORED, DetectResult, detect_folder, predict_folder
from pipeline.io import write_csv
from pipeline.parallel import ExecutorSection
from pipeline.tables import Kind, read_table

CANDIDATE_SPEC: dict[str, Kind] = {"coordX": "number", "coordY": "number", "coordZ": "number"}

EXIT_UNUSABLE = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lung-predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dicom", type=Path, required=True, help="folder of DICOM files (any layout)")
    p.add_argument("--candidates", type=Path, default=None,
                   help="CSV of world coordinates (default: find candidates)")
    p.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    p.add_argument("--output", type=Path, required=True, help="CSV written atomically")
    p.add_argument("--report", type=Path, default=None,
                   help="folder for index.html, PNGs and the DICOM SR (without --candidates)")
    p.add_argument("--params", type=Path, default=None,
                   help="take the ingest checks and the candidates section from this params.yaml "
                        "(default: built-in)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run predict; returns the exit code."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        ingest, executor, detect = None, None, None
        if args.params is not None:
            ingest = load_section(args.params, "ingest", IngestParams)
            executor = load_section(args.params, "executor", ExecutorSection).with_jobs(ingest.jobs)
            detect = load_candidate_params(args.params, required=False)
        if args.candidates is None:
            found = detect_folder(args.dicom, args.model, detect, ingest, executor,
                                  batch_size=args.batch_size)
            return _finish_detect(args, found)
        if args.report is not None:
            raise PipelineError("--report needs the generated candidates: drop --candidates")
        # numeric, finite coordinates and no duplicated row, else one line naming row and column
        candidates = read_table(args.candidates, CANDIDATE_SPEC)
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


def _finish_detect(args: argparse.Namespace, found: DetectResult) -> int:
    write_csv(args.output, found.table, float_format="%.4f")
    status = found.table["status"]
    findings = int((found.table["prediction"] == 1).sum())
    extra = ""
    if args.report is not None:
        from pipeline.report.writer import write_report

        files = write_report(found.series, found.threshold, args.report, args.model.name)
        extra = f"; report {files.index} ({len(files.srs)} SR)"
    rest = status[status != SCORED].value_counts().sort_index()
    detail = ", ".join(f"{n} {s}" for s, n in rest.items())
    print(f"{int((status == SCORED).sum())} candidates scored in {len(found.series)} series, "
          f"{findings} at or above the threshold -> {args.output}"
          + (f" (other rows: {detail})" if detail else "") + extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
