"""Write the embedded synthetic chest-CT cohort: DICOM series as a PACS export plus LUNA16 tables.

Outputs (docs/data-contracts.md): OUTPUT/dicom/..., OUTPUT/annotations.csv, OUTPUT/candidates.csv,
a preview PNG and a metrics JSON. The same params give byte-identical files.
"""

import argparse
import time
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.io import atomic_path, write_json
from pipeline.parallel import ExecutorSection
from pipeline.synth.cohort import synthesize_cohort
from pipeline.synth.params import SynthesizeParams
from pipeline.synth.preview import save_preview


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--output", type=Path, default=Path("data/raw/synthetic"))
    p.add_argument("--preview", type=Path, default=Path("reports/cohort_preview.png"))
    p.add_argument("--metrics", type=Path, default=Path("reports/synthesize.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cfg = load_section(args.params, "synthesize", SynthesizeParams)
    executor = load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs)
    start = time.perf_counter()
    result = synthesize_cohort(args.output.absolute(), cfg, executor)
    with atomic_path(args.preview, suffix=".png") as tmp:
        save_preview([p.preview for p in result.patients if p.preview is not None], tmp)
    write_json(args.metrics, result.metrics)
    m = result.metrics
    print(f"synthesized {m['patients']} patients, {m['series']} series, {m['slices']} slices "
          f"({m['mb_on_disk']:.1f} MB), {m['nodules']} nodules, {m['candidates']} candidates "
          f"in {time.perf_counter() - start:.1f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
