"""Time ingest + anonymize (verification included) against a floor measured in the same run.

Floor: a bare ``pydicom.dcmread`` + ``save_as`` of every file (what any anonymizer must do).
De-identification is the anonymize part (read, de-identify, write, verify every output file);
ingest's header scan runs before it, is timed separately, and is reported both apart and added.
The cohort (default 4 series x 75 slices of 512x512, Explicit VR LE) is written to a temporary
folder with ``pipeline.synth.dicom_writer.write_ct_series``. Prints ms/file, the ratio to the floor
and files/s for jobs 1 and 2 (target: de-identification <= 1.5x the floor with jobs=1), wall
clock and CPU time.

Fairness: the floor and the pipeline read the same files from a warm page cache; every
measurement starts after ``os.sync()`` (so none pays for the previous one's write-back) and the
three measurements are interleaved, best of ``--repeat`` each. A series is the unit of parallel
work, so the default series count is even: with 3 series, jobs=2 could not beat 1.5x. CPU time
(this process and its workers) is printed too: on a shared machine it is far less noisy than the
wall clock, but it does not show the gain of parallel workers.

    python benchmarks/ingest_anonymize.py [--series 4 --slices 75 --size 512 --repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from pipeline.dicom.deid.cohort import DeidSettings, anonymize_cohort, sources_from_series_table
from pipeline.dicom.deid.pseudonyms import DEMO_KEY, KeySource, key_fingerprint
from pipeline.dicom.scan import scan_folder
from pipeline.imaging.geometry import Geometry
from pipeline.params import load_params
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series


def make_cohort(root: Path, n_series: int, n_slices: int, size: int) -> list[Path]:
    paths = []
    for s in range(n_series):
        ident = PatientIdentity(f"Müller^Hans{s}", f"PID{s:06d}", "19600101", "M", "063Y",
                                f"ACC{s:07d}", "20240115", "093000", "St Elsewhere", "1 Main St",
                                "Ref^Doc", "Perf^Doc", "Op^Erator", "CTSTATION1", "SN998877")
        uids = SeriesUIDs(generate_uid(), generate_uid(), generate_uid(),
                          tuple(generate_uid() for _ in range(n_slices)))
        volume = np.random.default_rng(s).normal(-500, 300, (n_slices, size, size))
        files = [root / f"PAT_{s}" / f"IM{k:05d}.dcm" for k in range(n_slices)]
        write_ct_series(volume, Geometry((0.0, 0.0, 0.0), (0.7, 0.7, 1.25)), files, ident, uids)
        paths += files
    return paths


def floor(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        pydicom.dcmread(path).save_as(out / f"{i}.dcm")
    return time.perf_counter() - start


def ingest_anonymize(root: Path, out: Path, jobs: int) -> tuple[float, float]:
    params = load_params("params.yaml")
    executor = params.executor.with_jobs(jobs)
    settings = DeidSettings.from_params(params.anonymize,
                                       KeySource("demo", "", key_fingerprint(DEMO_KEY)))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = scan_folder(root, params.ingest, executor)
    ingest_seconds = time.perf_counter() - start
    report = anonymize_cohort(sources_from_series_table(result.series), root, out, settings,
                              executor)
    seconds = time.perf_counter() - start
    if report.leaks:
        raise SystemExit(f"verification found {len(report.leaks)} leaks")
    return seconds, ingest_seconds


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (pool workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--series", type=int, default=4)
    p.add_argument("--slices", type=int, default=75)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3, help="best of N for every measurement")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deid-") as tmp:
        root = Path(tmp) / "in"
        paths = make_cohort(root, args.series, args.slices, args.size)
        n = len(paths)
        best: dict[str, float] = {}
        ingest: dict[str, float] = {}
        cpu: dict[str, float] = {}
        deid = float("inf")
        for _ in range(args.repeat):
            for name in ("floor", "jobs=1", "jobs=2"):
                out = Path(tmp) / "out"
                os.sync()
                cpu_start = cpu_seconds()
                if name == "floor":
                    seconds, ingest_s = floor(paths, out), 0.0
                else:
                    seconds, ingest_s = ingest_anonymize(root, out, int(name[-1]))
                cpu_s = cpu_seconds() - cpu_start
                if name == "jobs=1":
                    deid = min(deid, seconds - ingest_s)
                shutil.rmtree(out)
                if seconds < best.get(name, float("inf")):
                    best[name], ingest[name] = seconds, ingest_s
                cpu[name] = min(cpu.get(name, float("inf")), cpu_s)
        print(f"{n} files of {args.size}x{args.size} in {args.series} series "
              f"(best of {args.repeat})")
        for name, seconds in best.items():
            print(f"{name:>7}: {1000 * seconds / n:7.2f} ms/file  {n / seconds:7.1f} files/s  "
                  f"ratio to floor {seconds / best['floor']:.2f}x  "
                  f"(ingest {1000 * ingest[name] / n:.2f} ms/file)  "
                  f"cpu {1000 * cpu[name] / n:6.2f} ms/file, {cpu[name] / cpu['floor']:.2f}x")
        print(f"de-identification alone (anonymize + verification, jobs=1): "
              f"{1000 * deid / n:.2f} ms/file, ratio to floor {deid / best['floor']:.2f}x "
              f"(target <= 1.5x); with ingest's scan {best['jobs=1'] / best['floor']:.2f}x")
        print(f"speed-up jobs=2 vs jobs=1: {best['jobs=1'] / best['jobs=2']:.2f}x")


if __name__ == "__main__":
    main()
