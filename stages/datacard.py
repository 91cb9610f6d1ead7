"""Merge the data fingerprint parts into headline metrics, distribution plots and the data card.

Reads FINGERPRINT/{ingest,resample,patches}.json (written by those stages) and the anonymize and
folds reports; writes --metrics (a few numbers for `dvc metrics diff`), --plots/*.csv (for `dvc
plots diff`), --card and its PNGs. With --baseline FILE|DIR or --baseline-ref GITREF the card gets
a "Compared with the previous version" section and the shift check against that version.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.fingerprint.card import PLOTS, headline, plot_tables, render_card
from pipeline.fingerprint.figures import distribution_figure
from pipeline.fingerprint.parts import read_baseline, read_parts, read_parts_at_ref
from pipeline.fingerprint.shift import load_shift_params
from pipeline.io import read_json, write_csv, write_json, write_text


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


def run(args: argparse.Namespace) -> int:
    shift = load_shift_params(args.params)
    synthetic = load_section(args.params, "data", DataParams).synthetic
    fp = read_parts(args.fingerprint)
    baseline, name = None, ""
    if args.baseline is not None:
        baseline, name = read_baseline(args.baseline), str(args.baseline)
    elif args.baseline_ref:
        baseline = read_parts_at_ref(args.baseline_ref, args.fingerprint.as_posix())
        name = args.baseline_ref
    reports = {k: read_json(p) if p.is_file() else {}
               for k, p in (("anonymize", args.anonymize_report), ("folds", args.folds_report))}
    metrics = headline(fp)
    write_json(args.metrics, metrics)
    tables, before = plot_tables(fp), plot_tables(baseline) if baseline else {}
    for file, table in tables.items():
        write_csv(args.plots / file, table)
        _, _, x, _, label = PLOTS[file]
        distribution_figure(table, x, args.figures / file.replace(".csv", ".png"),
                            title=label.split(" (")[0], x_label=label,
                            baseline=before.get(file), baseline_label=name or "baseline")
    figures = Path(os.path.relpath(args.figures, args.card.parent)).as_posix()
    write_text(args.card, render_card(fp, reports, shift, baseline, name, synthetic, figures))
    print(f"data fingerprint: {metrics['series']} series, {metrics['scanners']} scanners, "
          f"{metrics['kernels']} kernels, lung HU median {metrics['lung_hu_median']}, "
          f"{metrics['nodules']} nodules -> {args.metrics}, {args.card}"
          + (f" (compared with {name})" if baseline else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
