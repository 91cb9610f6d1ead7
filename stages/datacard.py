"""Merge the data fingerprint parts into headline metrics, distribution plots and the data card.

Reads FINGERPRINT/{ingest,resample,patches}.json (written by those stages) and the anonymize and
folds reports; writes --metrics (a few numbers for `dvc metrics diff`), --plots/*.csv (for `dvc
plots diff`), --card and its PNGs. With --baseline FILE|DIR or --baseline-ref GITREF the card gets
a "Compared with the previous version" section and the shift check against that version.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.fingerprint.shift import load_shift_params
from pipeline.stages import datacard


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fingerprint", type=Path, default=Path("reports/fingerprint"))
    p.add_argument("--anonymize-report", type=Path, default=Path("reports/anonymize.json"))
    p.add_argument("--folds-report", type=Path, default=Path("reports/folds.json"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/data_fingerprint.json"))
    p.add_argument("--plots", type=Path, default=Path("plots/data"))
    p.add_argument("--card", type=Path, default=Path("reports/data_card.md"))
    p.add_argument("--figures", type=Path, default=Path("reports/data_figures"))
    base = p.add_mutually_exclusive_group()
    base.add_argument("--baseline", type=Path, default=None,
                      help="previous version's fingerprint: a folder of parts or one JSON file")
    base.add_argument("--baseline-ref", default=None,
                      help="git ref whose committed FINGERPRINT parts are the previous version")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    report = datacard.run(args.fingerprint, args.anonymize_report, args.folds_report,
                          load_shift_params(args.params),
                          load_section(args.params, "data", DataParams).synthetic,
                          args.baseline, args.baseline_ref)
    report.write(args.metrics, args.plots, args.card, args.figures)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
