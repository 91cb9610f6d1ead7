"""Time the ingest header scan against a naive full read, in the same run, and print ratios.

Baseline: ``pydicom.dcmread`` of every file with its pixels, one process (what a first version
would do). Measured: ``scan_folder`` with ``jobs=1`` and ``jobs=2``. Usage:

    .venv/bin/python benchmarks/bench_ingest.py [--series 8] [--slices 64] [--size 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import list_files, scan_folder
from pipeline.imaging.geometry import Geometry
from pipeline.parallel import ExecutorParams
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity("BENCH^ONE", "B1", "19700101", "O", "050Y", "A1", "20240101", "120000",
                           "Bench", "Nowhere", "R^R", "P^P", "O^O", "ST1", "SN1")
PARAMS = IngestParams(spacing_rtol=0.05, position_tol_mm=0.01, orientation_tol=0.001,
                      allow_gantry_tilt=False, max_tilt_deg=0.1, min_slices=3, jobs=1)


def build(root: Path, n_series: int, n_slices: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for s in range(n_series):
        uids = SeriesUIDs(generate_uid(), generate_uid(), generate_uid(),
                          tuple(generate_uid() for _ in range(n_slices)))
        volume = rng.normal(-500, 300, (n_slices, size, size))
        names = [root / f"s{s}" / f"{k:05d}" for k in rng.permutation(n_slices)]
        write_ct_series(volume, Geometry((0, 0, 0), (0.7, 0.7, 1.25)), names, IDENTITY, uids)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--slices", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.series, args.slices, args.size)
        files = list_files(root)
        baseline = timed(lambda: [pydicom.dcmread(root / f).pixel_array for f in files])
        one = timed(lambda: scan_folder(root, PARAMS, ExecutorParams(jobs=1)))
        two = timed(lambda: scan_folder(root, PARAMS, ExecutorParams(jobs=2)))
    print(f"{len(files)} files of {args.size}x{args.size}: full read {baseline:.2f}s; "
          f"scan jobs=1 {one:.2f}s ({baseline / one:.1f}x faster); "
          f"jobs=2 {two:.2f}s ({baseline / two:.1f}x faster, {one / two:.2f}x vs jobs=1)")


if __name__ == "__main__":
    main()
