"""Time the synthetic cohort against a bare pydicom baseline measured in the same run.

Generates the cohort of ``params.yaml`` (or ``--patients N``) into a temporary folder, then writes
the same number of slices as a bare ``save_as`` of one prebuilt dataset (no phantom, no
per-slice header), and prints slices/s for both and their ratio.

    python benchmarks/synthesize.py [--patients 6] [--jobs 2]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.imaging.geometry import Geometry
from pipeline.params import load_params
from pipeline.synth.cohort import synthesize_cohort
from pipeline.synth.dicom_writer import build_slice_dataset, stored_values
from pipeline.synth.identity import make_identity


def baseline(n_slices: int, rows: int, folder: Path) -> float:
    """Seconds to ``save_as`` ``n_slices`` copies of one prebuilt slice (the I/O floor)."""
    from pipeline.synth.dicom_writer import SeriesUIDs

    ident = make_identity(np.random.default_rng(0), "0000000")
    uids = SeriesUIDs("2.25.1", "2.25.2", "2.25.3", ("2.25.4",))
    pixels = stored_values(np.full((rows, rows), -800.0))
    ds = build_slice_dataset(pixels, 0, Geometry((0, 0, 0), (1, 1, 1)), ident, uids)
    start = time.perf_counter()
    for k in range(n_slices):
        copy.copy(ds).save_as(folder / f"{k}.dcm", enforce_file_format=True)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--patients", type=int, default=None)
    p.add_argument("--jobs", type=int, default=None)
    args = p.parse_args()
    params = load_params(args.params)
    cfg = params.synthesize
    cfg = dataclasses.replace(cfg, n_patients=args.patients or cfg.n_patients,
                              jobs=args.jobs or cfg.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = synthesize_cohort(Path(tmp) / "cohort", cfg, params.executor.with_jobs(cfg.jobs))
        seconds = time.perf_counter() - start
        m = result.metrics
        rows = int(np.median([s.grid.size[0] for p in result.patients for s in p.series]))
        (Path(tmp) / "base").mkdir()
        base = baseline(m["slices"], rows, Path(tmp) / "base")
    print(f"cohort: {m['patients']} patients, {m['series']} series, {m['slices']} slices, "
          f"{m['mb_on_disk']:.1f} MB, {m['nodules']} nodules, {m['candidates']} candidates "
          f"({m['positives']} positive), jobs={cfg.jobs}")
    print(f"synthesize: {seconds:.1f} s, {m['slices'] / seconds:.1f} slices/s")
    print(f"baseline bare save_as ({rows}x{rows}): {base:.2f} s, {m['slices'] / base:.1f} slices/s")
    print(f"ratio synthesize/baseline time: {seconds / base:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
