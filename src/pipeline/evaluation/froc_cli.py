"""Score any CAD system's output by the LUNA16 rules (FROC, CPM and a scan-bootstrap CI).

Takes the official kit's five arguments, in LUNA16's formats:
  ANNOTATIONS.csv           seriesuid,coordX,coordY,coordZ,diameter_mm (the nodules)
  ANNOTATIONS_EXCLUDED.csv  same columns: findings whose candidates are ignored
  SERIESUIDS.csv            the scans to evaluate, one uid per line, no header
  RESULTS.csv               seriesuid,coordX,coordY,coordZ,probability (the CAD marks)
  OUTDIR                    receives froc.json, froc.csv (the curve) and froc.png

Coordinates are world millimetres. Exit codes: 0 done, 2 unusable input (one line naming the file,
line and column).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.cli import setup_logging
from pipeline.errors import PipelineError
from pipeline.evaluation.froc import (
    BOOTSTRAP_CONFIDENCE,
    FP_RATES,
    CpmInterval,
    FrocResult,
    cpm_bootstrap_ci,
    froc,
)
from pipeline.io import write_bytes, write_csv, write_json
from pipeline.tables import ANNOTATION_COLUMNS, COORDS

log = logging.getLogger("lung-froc")

EXIT_UNUSABLE = 2
RESULT_COLUMNS = ("seriesuid", *COORDS, "probability")
DEFAULT_BOOTSTRAP = 1000  # the kit's bNumberOfBootstrapSamples
DEFAULT_SEED = 0


def _read_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-blank CSV row of ``path``."""
    if not path.is_file():
        raise PipelineError(f"{path}: {what} not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: {what} is not UTF-8 text ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    except csv.Error as exc:
        raise PipelineError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise PipelineError(f"{path}: {what} is empty")
    return rows


def read_luna_table(path: str | Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A LUNA16 CSV with a header holding ``columns`` (uid first, then numbers), parsed with
    Python's ``float`` as the kit does. Every problem names the file, line and column."""
    path = Path(path)
    rows = _read_rows(path, what)
    header = rows[0][1]
    missing = [c for c in columns if c not in header]
    if missing:
        raise PipelineError(f"{path}: {what} has no column {missing[0]!r} "
                            f"(header: {','.join(header)}; expected {','.join(columns)})")
    index = [header.index(c) for c in columns]
    uids: list[str] = []
    values: list[list[float]] = []
    for line, row in rows[1:]:
        if len(row) < len(header):
            raise PipelineError(f"{path} line {line}: {len(row)} fields, the header has "
                                f"{len(header)}")
        uid = row[index[0]]
        if not uid.strip():
            raise PipelineError(f"{path} line {line}, column {columns[0]}: empty")
        numbers = []
        for col, i in zip(columns[1:], index[1:], strict=True):
            try:
                v = float(row[i])
            except ValueError:
                raise PipelineError(f"{path} line {line}, column {col}: {row[i]!r} is not a "
                                    "number") from None
            if not math.isfinite(v):
                raise PipelineError(f"{path} line {line}, column {col}: {row[i]!r} is not a "
                                    "finite number")
            numbers.append(v)
        uids.append(uid)
        values.append(numbers)
    frame = pd.DataFrame(values, columns=list(columns[1:]), dtype=np.float64)
    frame.insert(0, columns[0], pd.Series(uids, dtype=object))
    return frame


def read_series_uids(path: str | Path) -> list[str]:
    """The scans to evaluate: the first field of every line, no header, each uid once."""
    path = Path(path)
    uids: list[str] = []
    seen: dict[str, int] = {}
    for line, row in _read_rows(path, "series-uids file"):
        uid = row[0]
        if line == 1 and uid.strip().lower() in ("seriesuid", "series_uid"):
            raise PipelineError(f"{path} line 1: {uid!r} looks like a header; the series-uids "
                                "file has one uid per line and no header")
        if not uid.strip():
            raise PipelineError(f"{path} line {line}: empty series uid")
        if uid in seen:
            raise PipelineError(f"{path} line {line}: series {uid} already listed on line "
                                f"{seen[uid]}")
        seen[uid] = line
        uids.append(uid)
    return uids


def _none_if_nan(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def summary(result: FrocResult, ci: CpmInterval) -> dict[str, Any]:
    """The content of ``froc.json``."""
    return {
        "cpm": result.cpm,
        "sensitivity_at": {f"{r:g}": s for r, s in result.sensitivities.items()},
        "n_nodules": result.n_nodules,
        "n_detected": result.n_detected,
        "n_scans": result.n_scans,
        "n_false_positives": result.n_false_positives,
        "n_ignored_on_excluded": result.n_ignored,
        "n_double_hits_ignored": result.n_double_hits,
        "n_dropped_over_cap": result.n_dropped,
        "cpm_ci_low": _none_if_nan(ci.low),
        "cpm_ci_high": _none_if_nan(ci.high),
        "bootstrap": {"samples": ci.n_resamples, "seed": ci.seed, "confidence": ci.confidence,
                      "samples_used": ci.n_used, "unit": "scan"},
    }


def froc_png(result: FrocResult, ci: CpmInterval) -> bytes:
    """The kit's plot: its interpolated curve on a log2 axis from 1/8 to 8 FPs per scan."""
    fps = result.curve["fps_per_scan"].to_numpy()
    sens = result.curve["sensitivity"].to_numpy()
    grid = np.linspace(FP_RATES[0], FP_RATES[-1], 10001)
    fig = Figure(figsize=(6, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(grid, np.interp(grid, fps, sens), color="tab:blue", lw=2)
    ax.plot(list(result.sensitivities), list(result.sensitivities.values()), "o",
            color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(FP_RATES), [f"{r:g}" for r in FP_RATES])
    ax.set_xlim(FP_RATES[0], FP_RATES[-1])
    ax.set_ylim(0, 1)
    ax.set_yticks(np.arange(0, 1.01, 0.1))
    ax.grid(True, which="both", alpha=0.4)
    ax.set_xlabel("Average number of false positives per scan")
    ax.set_ylabel("Sensitivity")
    band = (f" (95% CI {ci.low:.3f}-{ci.high:.3f})" if not math.isnan(ci.low) else "")
    ax.set_title(f"FROC: CPM {result.cpm:.3f}{band}, {result.n_nodules} nodules, "
                 f"{result.n_scans} scans", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lung-froc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("annotations", type=Path, help="ANNOTATIONS.csv")
    p.add_argument("excluded", type=Path, help="ANNOTATIONS_EXCLUDED.csv")
    p.add_argument("seriesuids", type=Path, help="SERIESUIDS.csv")
    p.add_argument("results", type=Path, help="RESULTS.csv")
    p.add_argument("outdir", type=Path, help="OUTDIR")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP,
                   help=f"bootstrap samples over scans (default {DEFAULT_BOOTSTRAP}, as the kit; "
                        "0: no interval)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"bootstrap seed (default {DEFAULT_SEED})")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns the exit code."""
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.bootstrap < 0:
            raise PipelineError(f"--bootstrap must be >= 0, got {args.bootstrap}")
        annotations = read_luna_table(args.annotations, ANNOTATION_COLUMNS, "annotations")
        excluded = read_luna_table(args.excluded, ANNOTATION_COLUMNS, "excluded annotations")
        uids = read_series_uids(args.seriesuids)
        results = read_luna_table(args.results, RESULT_COLUMNS, "results")
        result = froc(results, annotations, excluded=excluded, scan_ids=uids)
        if result.n_nodules == 0:
            raise PipelineError(f"{args.annotations}: no nodule in the {len(uids)} scans of "
                                f"{args.seriesuids}, so sensitivity is undefined")
    except PipelineError as exc:
        if args.verbose:
            log.exception("unusable input")
        print(f"lung-froc: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    n_unlisted = int((~results["seriesuid"].isin(uids)).sum())
    if n_unlisted:
        log.warning("%d results rows are in scans not listed in %s: ignored, as the kit does",
                    n_unlisted, args.seriesuids)
    ci = cpm_bootstrap_ci(result, args.bootstrap, args.seed, BOOTSTRAP_CONFIDENCE)
    write_json(args.outdir / "froc.json", summary(result, ci))
    write_csv(args.outdir / "froc.csv", result.curve)
    write_bytes(args.outdir / "froc.png", froc_png(result, ci))
    band = f" (95% CI {ci.low:.3f}-{ci.high:.3f})" if not math.isnan(ci.low) else ""
    print(f"CPM {result.cpm:.3f}{band}: {result.n_detected} of {result.n_nodules} nodules hit, "
          f"{result.n_false_positives} false positives in {result.n_scans} scans -> {args.outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
