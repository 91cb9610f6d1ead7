"""Scale benchmark: LUNA16's candidate ratio at 50k-100k+ candidates, through patches, one
epoch of training and inference + evaluation over every candidate.

For each size N of ``--sizes`` a synthetic cohort is written as the patches stage reads it (no
DICOM): resampled 1 mm volumes (``geometry.csv``, ``resample.json``; ``--volumes`` distinct
320x320x280 files shared round-robin by the scans), ``candidates.csv`` with
``--per-scan`` candidates per scan (LUNA16: 754,975 / 888 = 850) and one nodule per ``--ratio``
candidates (LUNA16: ~1:500), and ``annotations.csv``. Then every step runs as its stage script
(or, for ``infer``, this file) in a fresh process, measured with ``os.wait4``:

- ``patches``: ``stages/patches.py`` (jobs 1), cutting 32^3 int16 cubes (64 KiB each);
- ``folds``: ``stages/folds.py`` (5 folds);
- ``train``: ``stages/train.py`` fold 0, ``seed2d``, one epoch, augmentation on,
  ``balance: sampler`` as the default run (as many draws as training items), then inner-val
  and held-out scoring;
- ``train_k20``: the same with ``negatives_per_positive: 20`` (every positive + 20 negatives
  each per epoch);
- ``infer``: fold 0's model scores every candidate, streamed from ``cubes.npy``, and writes the
  five folds' ``oof.csv`` (the out-of-fold scoring of five folds, done by one model);
- ``evaluate``: ``stages/evaluate.py`` on those folds (the baseline = the same model) with
  ``evaluate.bootstrap`` 0 and ``--bootstrap`` resamples;
- ``bootstrap``: the paired patient bootstrap alone (``pipeline.evaluation.cv.bootstrap``, both
  models) for ``--bootstrap-timing`` resamples on the same tables, timed in-process: the
  per-resample cost, which the difference of the two evaluate runs no longer resolves (a
  resample takes well under a second, less than the run-to-run noise of a shared machine).

Reported per step: wall seconds, CPU seconds, peak RSS (``ru_maxrss`` of the process; a pool
worker's own peak if larger) and seconds per 10,000 candidates; per size: disk of the patches.
Results: a printed table and ``--json``; ``--estimate`` extrapolates to full LUNA16 from the
largest size's per-candidate rates (see :func:`estimate`).

    python benchmarks/scale.py --sizes 50000 100000 [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

REPO = Path(__file__).resolve().parents[1]
LUNA16 = {"candidates": 754_975, "scans": 888, "positives": 1_557}
VOLUME_XYZ = (320, 320, 280)


# --- the synthetic cohort -------------------------------------------------------------------

def write_volumes(folder: Path, count: int) -> list[str]:
    """``count`` resampled-looking int16 volumes (1 mm): air, a body ellipse, noise."""
    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = VOLUME_XYZ
    names = []
    for v in range(count):
        name = f"vol{v}.nii.gz"
        names.append(name)
        if (folder / name).is_file():
            continue
        rng = np.random.default_rng(v)
        _, yy, xx = np.ogrid[:nz, :ny, :nx]
        body = ((yy - ny / 2) / (0.42 * ny)) ** 2 + ((xx - nx / 2) / (0.47 * nx)) ** 2 < 1
        volume = np.where(body, 40, -1000).astype(np.int16) + np.zeros((nz, 1, 1), np.int16)
        volume += rng.integers(-25, 26, size=volume.shape, dtype=np.int16)
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing((1.0, 1.0, 1.0))
        image.SetOrigin((-160.0, -160.0, -300.0))
        sitk.WriteImage(image, str(folder / name), True)
    return names


def write_cohort(root: Path, shared: Path, n: int, per_scan: int, ratio: int, n_volumes: int
                 ) -> dict[str, Any]:
    """Volumes folder (links to the shared files), candidates and annotations for ``n``."""
    names = write_volumes(shared, n_volumes)
    volumes, tables = root / "volumes", root / "tables"
    volumes.mkdir(parents=True, exist_ok=True)
    tables.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = volumes / name
        if not link.exists():
            link.symlink_to(shared / name)
    scans = -(-n // per_scan)
    rng = np.random.default_rng(n)
    nx, ny, nz = VOLUME_XYZ
    uids = [f"1.2.826.0.1.3680043.9.7777.{s + 1}" for s in range(scans)]
    geometry = pd.DataFrame({
        "series_uid": uids, "patient_id": [f"BENCH-{s + 1:05d}" for s in range(scans)],
        "file": [names[s % len(names)] for s in range(scans)], "lung_file": "",
        "orig_spacing_x": 0.7, "orig_spacing_y": 0.7, "orig_spacing_z": 1.25,
        "orig_size_x": 512, "orig_size_y": 512, "orig_size_z": 224,
        "spacing_x": 1.0, "spacing_y": 1.0, "spacing_z": 1.0,
        "size_x": nx, "size_y": ny, "size_z": nz,
        "origin_x": -160.0, "origin_y": -160.0, "origin_z": -300.0,
        "direction": "1\\0\\0\\0\\1\\0\\0\\0\\1", "hu_min": -1024.0, "hu_max": 3071.0})
    geometry.to_csv(volumes / "geometry.csv", index=False, float_format="%.6f")
    (volumes / "resample.json").write_text(json.dumps(
        {"spacing_mm": 1.0, "interpolator": "linear", "hu_range": [-1024.0, 3071.0],
         "anti_alias": True, "lung_mask": False}), encoding="utf-8")
    scan_of = np.minimum(np.arange(n) // per_scan, scans - 1)
    low = np.array([-160.0, -160.0, -300.0]) + 20
    high = low + np.array([nx, ny, nz]) - 40
    xyz = rng.uniform(low, high, size=(n, 3)).round(3)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, max(1, n // ratio), replace=False)] = 1
    cands = pd.DataFrame({"seriesuid": [uids[s] for s in scan_of], "coordX": xyz[:, 0],
                          "coordY": xyz[:, 1], "coordZ": xyz[:, 2], "class": labels})
    cands.to_csv(tables / "candidates.csv", index=False)
    pos = cands[cands["class"] == 1]
    pos.drop(columns="class").assign(diameter_mm=6.0).to_csv(tables / "annotations.csv",
                                                               index=False)
    return {"candidates": n, "scans": scans, "positives": int(labels.sum()),
            "per_scan": per_scan, "ratio": ratio, "volume_files": len(names)}


def write_params(path: Path, bootstrap: int, negatives_per_positive: int = 0) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    raw["patches"].update({"cube_mm": 32.0, "merge_distance_mm": 0.0, "jobs": 1})
    raw["train"].update({"model": "seed2d", "epochs": 1, "device": "cpu", "num_workers": 0,
                         "balance": "sampler", "augment": True,
                         "negatives_per_positive": negatives_per_positive})
    raw["evaluate"].update({"bootstrap": bootstrap})
    raw["cv"].update({"folds": 5, "fold_ids": [0, 1, 2, 3, 4]})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# --- measured steps -------------------------------------------------------------------------

def measure(name: str, argv: list[str], log: Path) -> dict[str, Any]:
    """Run the Python script ``argv[0]`` (args ``argv[1:]``) from the repo root in a fresh
    process, through :func:`run_measured`; its wall and CPU seconds and peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), CI="1")
    peak_file = log.with_suffix(".peak")
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_run",
                                 str(peak_file), *argv], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{name} failed (exit {code}); see {log}")
    peak_kb = json.loads(peak_file.read_text(encoding="utf-8"))
    return {"step": name, "seconds": round(seconds, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(max(peak_kb["self"], peak_kb["children"]) / 1024, 1)}


def run_measured(peak_file: Path, argv: list[str]) -> int:
    """Run script ``argv[0]`` as ``__main__`` here, then record this process's peak RSS.

    ``VmHWM`` of ``/proc/self/status`` is the peak of this process's own address space, which
    ``exec`` made new: ``ru_maxrss`` would also carry the RSS of the (large) parent it was
    forked from. Pool workers' own peaks come from ``RUSAGE_CHILDREN`` (the largest one).
    """
    import resource
    import runpy

    sys.argv = list(argv)
    code = 0
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    hwm = next(int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmHWM:"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_file.write_text(json.dumps({"self": hwm, "children": children}), encoding="utf-8")
    return code


def disk_bytes(folder: Path) -> dict[str, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"apparent": sum(p.stat().st_size for p in files),
            "allocated": sum(p.stat().st_blocks * 512 for p in files)}


def infer_all(patches: Path, folds_csv: Path, train_dir: Path, out: Path) -> None:
    """Fold 0's model over every candidate (streamed), written as five folds' outputs."""
    from pipeline.data.datasets import PatchDataset, load_index_compact
    from pipeline.data.folds import read_folds
    from pipeline.memory import pin_mmap_threshold
    from pipeline.models.inference import predict_batches
    from pipeline.numerics import pin_torch_threads
    from pipeline.training.checkpoint import (
        checkpoint_bytes,
        load_checkpoint,
        model_from_checkpoint,
    )
    from pipeline.training.run import INFER_BATCH, OOF_COLUMNS, TRAIN_INDEX_COLUMNS, open_cubes

    pin_torch_threads()
    pin_mmap_threshold()  # as fit_fold does
    ckpt = load_checkpoint(train_dir / "model.pt")
    model = model_from_checkpoint(ckpt)
    index = load_index_compact(patches, list(TRAIN_INDEX_COLUMNS))  # as fit_fold reads it
    labels = index["label"].to_numpy(dtype=np.int64)
    ds = PatchDataset(open_cubes(patches), labels, ckpt["input_kind"], ckpt["preprocess"])
    p = predict_batches(model, ds.iter_inputs(INFER_BATCH))
    fold_of = read_folds(folds_csv).set_index("patient_id")["fold"]
    threshold = float(ckpt["threshold"])
    scored = index.assign(fold=index["patient_id"].map(fold_of).astype(int),
                          probability=np.round(p, 6), threshold=round(threshold, 6),
                          prediction=(p >= threshold).astype(np.int64))[OOF_COLUMNS]
    summary = (train_dir / "summary.json").read_text(encoding="utf-8")
    for fold, part in scored.groupby("fold"):
        d = out / "model" / f"fold{fold}"
        d.mkdir(parents=True, exist_ok=True)
        part.to_csv(d / "oof.csv", index=False, float_format="%.6f")
        (d / "model.pt").write_bytes(checkpoint_bytes(ckpt | {"fold": int(fold)}))
        (d / "summary.json").write_text(summary, encoding="utf-8")
    if not (out / "baseline").exists():
        (out / "baseline").symlink_to("model")


def time_bootstrap(patches: Path, folds_dir: Path, resamples: int, out: Path) -> None:
    """Seconds per resample of the evaluate stage's paired bootstrap (model and baseline)."""
    from pipeline.evaluation.cv import bootstrap, read_oof, score, share_columns
    from pipeline.evaluation.run import read_cohort
    from pipeline.memory import pin_mmap_threshold

    pin_mmap_threshold()  # as evaluate_cv does
    dirs = {role: sorted((folds_dir / role).glob("fold*")) for role in ("model", "baseline")}
    model_oof = read_oof([d / "oof.csv" for d in dirs["model"]])
    baseline_oof = share_columns(read_oof([d / "oof.csv" for d in dirs["baseline"]]), model_oof)
    cohort = read_cohort(patches)
    scored = {"model": score(model_oof, cohort), "baseline": score(baseline_oof, cohort)}
    start = time.perf_counter()
    bootstrap(scored, cohort, resamples, seed=0)
    seconds = time.perf_counter() - start
    out.write_text(json.dumps({"resamples": resamples, "bootstrap_seconds": round(seconds, 3),
                               "seconds_per_resample": round(seconds / max(resamples, 1), 4)}),
                   encoding="utf-8")


def run_size(work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    root = work / f"n{n}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    cohort = write_cohort(root, work / "shared_volumes", n, args.per_scan, args.ratio,
                          args.volumes)
    cohort["synthesis_seconds"] = round(time.perf_counter() - t0, 1)
    params = write_params(root / "params.yaml", 0)
    params_k = write_params(root / "params_k.yaml", 0, negatives_per_positive=20)
    params_b = write_params(root / "params_b.yaml", args.bootstrap)
    patches, folds = root / "patches", root / "folds.csv"
    steps = [measure("patches", ["stages/patches.py", "--volumes", str(root / "volumes"),
                                 "--tables", str(root / "tables"), "--output", str(patches),
                                 "--metrics", str(root / "data.json"), "--params", str(params)],
                     root / "patches.log")]
    disk = disk_bytes(patches)
    steps.append(measure("folds", ["stages/folds.py", "--patches", str(patches), "--output",
                                   str(folds), "--metrics", str(root / "folds.json"),
                                   "--params", str(params)], root / "folds.log"))
    for name, prm in (("train", params), ("train_k20", params_k)):
        steps.append(measure(name, ["stages/train.py", "--fold", "0", "--patches",
                                    str(patches), "--folds", str(folds), "--output",
                                    str(root / name), "--live", "", "--timing",
                                    str(root / f"{name}_timing.json"), "--params", str(prm)],
                             root / f"{name}.log"))
        timing = json.loads((root / f"{name}_timing.json").read_text(encoding="utf-8"))
        summary = json.loads((root / name / "summary.json").read_text(encoding="utf-8"))
        steps[-1].update(train_samples=summary["train_samples"],
                         train_loop_seconds=timing["train_seconds"],
                         samples_per_second=timing["samples_per_second"])
    steps.append(measure("infer", [str(Path(__file__).resolve()), "_infer", str(patches),
                                   str(folds), str(root / "train"), str(root / "cv")],
                         root / "infer.log"))
    for name, prm in (("evaluate_b0", params), (f"evaluate_b{args.bootstrap}", params_b)):
        out = root / name
        steps.append(measure(name, [
            "stages/evaluate.py", "--folds-dir", str(root / "cv"), "--patches", str(patches),
            "--predictions", str(out / "predictions.csv"), "--metrics", str(out / "m.json"),
            "--details", str(out / "d.json"), "--plots", str(out / "plots"), "--montage",
            str(out / "montage.png"), "--model-card", str(out / "card.md"), "--figures",
            str(out / "figures"), "--train-curves", str(out / "none"), "--params", str(prm)],
            root / f"{name}.log"))
    timing = root / "bootstrap_timing.json"
    steps.append(measure("bootstrap", [str(Path(__file__).resolve()), "_bootstrap", str(patches),
                                       str(root / "cv"), str(args.bootstrap_timing),
                                       str(timing)], root / "bootstrap.log"))
    steps[-1].update(json.loads(timing.read_text(encoding="utf-8")))
    for s in steps:
        s["seconds_per_10k"] = round(s["seconds"] * 10_000 / n, 3)
    result = {"size": n, "cohort": cohort, "patches_disk_bytes": disk, "steps": steps}
    if not args.keep:
        shutil.rmtree(patches)
    return result


# --- report ---------------------------------------------------------------------------------

def imports_floor(work: Path) -> dict[str, Any]:
    script = work / "imports_only.py"
    script.write_text("import SimpleITK, pandas, torch\n\nimport pipeline.evaluation.run\n"
                      "import pipeline.training.run\n", encoding="utf-8")
    return measure("imports", [str(script)], work / "imports.log")


def estimate(results: list[dict[str, Any]], bootstrap: int) -> dict[str, Any]:
    """LUNA16 figures from the largest size's rates (time proportional to candidates).

    A line through two sizes would also be exact for linear work, but on a shared machine one
    noisy step can tilt it below zero; the per-candidate rate of the largest run is the robust
    reading. Training also gets the range of both runs' samples/s. A resample's cost comes from
    the ``bootstrap`` step (timed alone) when the run has it, else from the difference of the
    two evaluate runs (``None`` when that difference is not positive: below the noise).
    """
    big = max(results, key=lambda r: r["size"])
    scale = LUNA16["candidates"] / big["size"]
    step = {s["step"]: s for s in big["steps"]}
    eval0 = step["evaluate_b0"]["seconds"] * scale
    if "bootstrap" in step:
        per_resample: float | None = step["bootstrap"]["seconds_per_resample"] * scale
    else:
        diff = step[f"evaluate_b{bootstrap}"]["seconds"] - step["evaluate_b0"]["seconds"]
        per_resample = diff / max(bootstrap, 1) * scale if diff > 0 else None
    rates = [next(s["samples_per_second"] for s in r["steps"] if s["step"] == "train")
             for r in results]
    per_cube = big["patches_disk_bytes"]["apparent"] / big["size"]
    return {
        "candidates": LUNA16["candidates"], "scans": LUNA16["scans"], "from_size": big["size"],
        "patches_disk_gb": round(per_cube * LUNA16["candidates"] / 1e9, 1),
        "patches_hours_jobs1": round(step["patches"]["seconds"] * scale / 3600, 2),
        "train_epoch_hours_seed2d_sampler": round(step["train"]["seconds"] * scale / 3600, 2),
        "train_samples_per_second_seed2d_range": [min(rates), max(rates)],
        "train_k20_epoch_hours_seed2d": round(step["train_k20"]["seconds"] * scale / 3600, 2),
        "infer_all_hours_seed2d": round(step["infer"]["seconds"] * scale / 3600, 2),
        "evaluate_hours_bootstrap0": round(eval0 / 3600, 3),
        "evaluate_seconds_per_resample": (None if per_resample is None
                                          else round(per_resample, 2)),
        "evaluate_hours_bootstrap1000": (None if per_resample is None
                                         else round((eval0 + 1000 * per_resample) / 3600, 2)),
        "peak_rss_mb": {s["step"]: s["peak_rss_mb"] for s in big["steps"]},
    }


def print_table(results: list[dict[str, Any]], floor: dict[str, Any]) -> None:
    print(f"\nimports alone: peak RSS {floor['peak_rss_mb']:.0f} MB\n")
    print("| candidates | step | seconds | s / 10k cand. | CPU s | peak RSS MB |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in results:
        for s in r["steps"]:
            print(f"| {r['size']} | {s['step']} | {s['seconds']:.1f} | "
                  f"{s['seconds_per_10k']:.2f} | {s['cpu_seconds']:.1f} | "
                  f"{s['peak_rss_mb']:.0f} |")
    print("\n| candidates | scans | positives | patches on disk (GB) | bytes per candidate |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        d = r["patches_disk_bytes"]["apparent"]
        print(f"| {r['size']} | {r['cohort']['scans']} | {r['cohort']['positives']} | "
              f"{d / 1e9:.2f} | {d / r['size']:.0f} |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_run":
        return run_measured(Path(argv[1]), argv[2:])
    if argv and argv[0] == "_infer":
        infer_all(*(Path(a) for a in argv[1:5]))
        return 0
    if argv and argv[0] == "_bootstrap":
        time_bootstrap(Path(argv[1]), Path(argv[2]), int(argv[3]), Path(argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[50_000, 100_000])
    p.add_argument("--per-scan", type=int, default=850)
    p.add_argument("--ratio", type=int, default=500)
    p.add_argument("--volumes", type=int, default=8, help="distinct volume files")
    p.add_argument("--bootstrap", type=int, default=10)
    p.add_argument("--bootstrap-timing", type=int, default=100,
                   help="resamples of the timed bootstrap step")
    p.add_argument("--work", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "scale_results.json")
    p.add_argument("--keep", action="store_true", help="keep each size's cubes.npy")
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    floor = imports_floor(work)
    results = [run_size(work, n, args) for n in sorted(args.sizes)]
    out: dict[str, Any] = {"imports": floor, "sizes": results,
                           "machine": {"cpus": os.cpu_count(),
                                       "load_avg_end": [round(x, 2) for x in os.getloadavg()]}}
    if len(results) >= 2:
        out["luna16_estimate"] = estimate(results, args.bootstrap)
    args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print_table(results, floor)
    if "luna16_estimate" in out:
        print("\nLUNA16 estimate:", json.dumps(out["luna16_estimate"], indent=2))
    print(f"\nresults: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
