"""Write the embedded synthetic chest-CT cohort: DICOM series as a PACS export plus LUNA16 tables.

Outputs (docs/data-contracts.md): OUTPUT/dicom/..., OUTPUT/annotations.csv, OUTPUT/candidates.csv,
a preview PNG and a metrics JSON. The same params give byte-identical files.
"""

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.parallel import ExecutorSection
from pipeline.stages import synthesize
from pipeline.synth.params import SynthesizeParams


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--output", type=Path, default=Path("data/raw/synthetic"))
    p.add_argument("--preview", type=Path, default=Path("reports/cohort_preview.png"))
    p.add_argument("--metrics", type=Path, default=Path("reports/synthesize.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "synthesize", SynthesizeParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    report = synthesize.run(args.output, cfg, executor)
    report.write(args.preview, args.metrics)
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
