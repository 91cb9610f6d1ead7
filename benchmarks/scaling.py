"""Scaling of preprocessing: wall time and peak memory vs number of series and vs jobs.

Synthesizes one cohort of ``max(--sizes)`` series (``small`` profile, one series per patient) into
a temporary folder, then for every size N and every ``--jobs`` value runs ingest + anonymize +
resample + patches (the library calls of the stage scripts, outputs written as they write them)
on the first N series, in a fresh Python process so that memory from one run never counts in the
next. Peak memory is the largest sum of RSS over that process and all its children (the local
pool), sampled every 50 ms. CPU s is the user + system time of that process and its pool during
the preprocessing (imports excluded): other load on a shared machine inflates wall time, not it.
Expected: seconds/series flat (time linear in N) and peak MB flat (each worker holds one series
at a time). Prints a markdown table; nothing is asserted.

    .venv/bin/python benchmarks/scaling.py [--sizes 4 8 16 32] [--jobs 1 2]
        [--rows 128] [--z-extent-mm 80] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pipeline.data.patches import build_patches, write_patch_tables
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.pseudonyms import load_key
from pipeline.dicom.scan import ingest_scanner, scan_folder
from pipeline.imaging.resample_cohort import resample_cohort, write_resample_tables
from pipeline.io import read_csv, write_csv
from pipeline.parallel import ExecutorParams
from pipeline.params import load_params
from pipeline.synth.cohort import synthesize_cohort

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "anonymize", "resample", "patches")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32],
                   help="numbers of series to preprocess")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="local pool sizes")
    p.add_argument("--rows", type=int, default=None,
                   help="image rows/columns of every scan (default: the small profile's)")
    p.add_argument("--z-extent-mm", type=float, default=None,
                   help="cranio-caudal extent of every scan (default: the small profile's)")
    p.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is kept")
    p.add_argument("--params", type=Path, default=REPO / "params.yaml")
    p.add_argument("--keep", type=Path, default=None,
                   help="work in this folder and keep it (default: a temporary folder)")
    p.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def synthesize(out: Path, n_series: int, args: argparse.Namespace) -> list[tuple[str, tuple]]:
    """Write ``n_series`` one-series patients; return ``(series_uid, files)`` in patient order."""
    base = load_params(args.params)
    cfg = dataclasses.replace(base.synthesize, n_patients=n_series, second_series_fraction=0.0)
    start = time.perf_counter()
    result = synthesize_cohort(out, cfg, base.executor.with_jobs(cfg.jobs), rows=args.rows,
                               z_extent_mm=args.z_extent_mm)
    m = result.metrics
    print(f"synthesized {m['series']} series, {m['slices']} slices ({m['mb_on_disk']:.0f} MB), "
          f"{m['candidates']} candidates in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return [(s.series_uid, s.files) for p in result.patients for s in p.series]


def subset(cohort_dir: Path, series: list[tuple[str, tuple]], n: int, out: Path) -> Path:
    """A raw folder with the first ``n`` series (hard links) and their rows of the tables."""
    keep = {uid for uid, _ in series[:n]}
    for _, files in series[:n]:
        for rel in files:
            target = out / "dicom" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(cohort_dir / "dicom" / rel, target)
            except OSError:
                shutil.copy2(cohort_dir / "dicom" / rel, target)
    for name in ("annotations.csv", "candidates.csv"):
        table = read_csv(cohort_dir / name)
        write_csv(out / name, table[table["seriesuid"].astype(str).isin(keep)],
                  float_format="%.6f")
    return out


def preprocess(raw: Path, out: Path, params_path: Path, jobs: int) -> dict[str, float]:
    """Ingest, anonymize, resample, patches of ``raw`` as the stage scripts run them; seconds."""
    params = load_params(params_path)
    executor = ExecutorParams(kind="local", jobs=jobs)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    ingest = scan_folder(raw / "dicom", params.ingest, executor)
    write_csv(out / "ingest" / "series.csv", ingest.series)
    write_csv(out / "ingest" / "rejected.csv", ingest.rejected)
    seconds["ingest"] = time.perf_counter() - start

    start = time.perf_counter()
    anon = out / "anonymized"
    anon.mkdir(parents=True)
    settings = cohort.DeidSettings.from_params(params.anonymize,
                                               load_key(None, params.data.synthetic,
                                                        raw / "dicom"))
    sources = cohort.sources_from_series_table(read_csv(out / "ingest" / "series.csv"))
    report = cohort.anonymize_cohort(sources, raw / "dicom", anon, settings, executor)
    for name in ("annotations", "candidates"):
        table, _ = cohort.map_series_table(read_csv(raw / f"{name}.csv"), report.uid_map)
        write_csv(anon / f"{name}.csv", table)
    write_csv(anon / "series.csv", report.series)
    write_csv(anon / "quarantine.csv", report.quarantine)
    seconds["anonymize"] = time.perf_counter() - start

    start = time.perf_counter()
    volumes = out / "volumes"
    resampled = resample_cohort(anon, volumes, params.resample, executor,
                                scan=ingest_scanner(params.ingest, executor))
    write_resample_tables(volumes, resampled, params.resample)
    seconds["resample"] = time.perf_counter() - start

    start = time.perf_counter()
    patches = out / "patches"
    result = build_patches(volumes, anon, patches, params.patches, executor)
    write_patch_tables(patches, result)
    seconds["patches"] = time.perf_counter() - start
    if len(resampled.geometry) == 0 or report.leaks:
        raise SystemExit(f"preprocessing of {raw} failed: {len(resampled.geometry)} volumes, "
                         f"{len(report.leaks)} leaks")
    return seconds


class PeakRSS:
    """Largest sum of RSS over a process and its descendants, sampled in a background thread."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):  # exited between listing and reading
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_s() -> float:
    """User + system CPU seconds of this process and its finished (joined) children."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def measure(raw: Path, work: Path, args: argparse.Namespace, jobs: int) -> dict[str, float]:
    """Preprocess ``raw`` in a fresh interpreter; its seconds per stage and the tree's peak MB."""
    out = work / f"out-{raw.name}-j{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PIPELINE_DEID_KEY", None)  # the synthetic cohort's public demo key
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure", str(raw), "--keep",
           str(out), "--jobs", str(jobs), "--params", str(args.params)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    with PeakRSS(proc.pid) as peak:
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed ({proc.returncode}): {' '.join(cmd)}\n"
                         + "\n".join(stderr.splitlines()[-30:]))
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = peak.peak_bytes / 2**20
    shutil.rmtree(out, ignore_errors=True)
    return result


def report(rows: list[dict[str, float]]) -> str:
    lines = ["| series | jobs | seconds | s/series | peak MB | CPU s/series | ingest s "
             "| anonymize s | resample s | patches s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['series']} | {r['jobs']} | {r['seconds']:.1f} | "
                     f"{r['seconds'] / r['series']:.2f} | {r['peak_mb']:.0f} | "
                     f"{r['cpu_s'] / r['series']:.2f} | "
                     + " | ".join(f"{r[s]:.1f}" for s in STAGES) + " |")
    lines.append("")
    for jobs in sorted({r["jobs"] for r in rows}):
        mine = sorted((r for r in rows if r["jobs"] == jobs), key=lambda r: r["series"])
        if len(mine) > 1:
            lo, hi = mine[0], mine[-1]
            lines.append(f"- jobs={jobs}: series x{hi['series'] / lo['series']:.0f} -> time "
                         f"x{hi['seconds'] / lo['seconds']:.1f}, CPU "
                         f"x{hi['cpu_s'] / lo['cpu_s']:.1f}, peak memory "
                         f"x{hi['peak_mb'] / lo['peak_mb']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure is not None:  # the child: one run, seconds as JSON on the last line
        start = cpu_s()
        seconds = preprocess(args.measure, args.keep, args.params, args.jobs[0])
        print(json.dumps({**seconds, "seconds": sum(seconds.values()), "cpu_s": cpu_s() - start}))
        return 0
    if min(args.sizes) < 1 or min(args.jobs) < 1 or args.repeat < 1:
        raise SystemExit("--sizes, --jobs and --repeat must be >= 1")
    work = args.keep or Path(tempfile.mkdtemp(prefix="scaling-"))
    try:
        cohort_dir = work / "cohort"
        shutil.rmtree(cohort_dir, ignore_errors=True)
        series = synthesize(cohort_dir, max(args.sizes), args)
        rows = []
        for n in sorted(args.sizes):
            raw = subset(cohort_dir, series, n, work / f"raw-{n}")
            for jobs in args.jobs:
                runs = [measure(raw, work, args, jobs) for _ in range(args.repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                best["peak_mb"] = max(r["peak_mb"] for r in runs)
                best["cpu_s"] = min(r["cpu_s"] for r in runs)
                rows.append({"series": n, "jobs": jobs, **best})
                print(f"{n} series, jobs={jobs}: {best['seconds']:.1f}s, "
                      f"peak {best['peak_mb']:.0f} MB", file=sys.stderr)
            shutil.rmtree(raw)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"cpu count: {os.cpu_count()}, rows: {args.rows or 'profile'}, "
          f"z extent: {args.z_extent_mm or 'profile'} mm\n")
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
