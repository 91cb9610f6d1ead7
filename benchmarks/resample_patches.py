"""Benchmark the resample and patches stages against baselines measured in the same run.

Resampling: ``resample_image`` (anti-alias + resample + clip to int16) vs ``sitk.Resample`` on the
same in-memory volumes and output grid (ratio of series per second), and the whole stage
(``resample_cohort``: read DICOM, resample, lung mask, write .nii.gz) with 1 and N jobs vs a plain
loop of read + ``sitk.Resample`` + write. Patches: candidates per second of ``extract_cubes`` on
resampled volumes (fast path and oblique path), and of the whole ``build_patches`` with N jobs
(reading the volumes included).

    python benchmarks/resample_patches.py [--series 8] [--size 160 160 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from pipeline.data.patches import build_patches
from pipeline.data.patches_params import PatchesParams
from pipeline.hu import AIR_HU
from pipeline.imaging.geometry import Geometry, rotation_matrix
from pipeline.imaging.params import ResampleParams
from pipeline.imaging.patches import cube_size, extract_cubes
from pipeline.imaging.resample import read_series_hu, resample_image, resampled_grid
from pipeline.imaging.resample_cohort import resample_cohort, resample_provenance
from pipeline.io import write_csv, write_json
from pipeline.parallel import ExecutorParams
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity("BENCH^ONE", "B0", "19600101", "O", "060Y", "ACC1", "20200101",
                           "120000", "", "", "", "", "", "ST", "0")
PARAMS = ResampleParams(spacing_mm=1.0, interpolator="linear", hu_range=(-1024.0, 3071.0),
                        anti_alias=True, lung_mask=True, jobs=1)




def chest_phantom(shape_zyx: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Body ellipse (soft tissue), two lungs, a few dense balls, CT-like noise; HU float32."""
    nz, ny, nx = shape_zyx
    _, yy, xx = np.ogrid[:nz, :ny, :nx]
    body = ((yy - ny / 2) / (0.42 * ny)) ** 2 + ((xx - nx / 2) / (0.47 * nx)) ** 2 < 1
    lungs = (((yy - ny / 2) / (0.3 * ny)) ** 2 + ((np.abs(xx - nx / 2) - 0.2 * nx)
                                                  / (0.15 * nx)) ** 2 < 1)
    volume = np.where(body, 40.0, -1000.0) + np.zeros((nz, 1, 1))
    volume[:, lungs[0]] = -850.0
    for _ in range(12):
        c = rng.uniform([0, 0.3 * ny, 0.2 * nx], [nz, 0.7 * ny, 0.8 * nx])
        zz, y2, x2 = np.ogrid[:nz, :ny, :nx]
        volume[(zz - c[0]) ** 2 + (y2 - c[1]) ** 2 + (x2 - c[2]) ** 2 < rng.uniform(2, 6) ** 2] = 60
    volume += rng.normal(0.0, 15.0, volume.shape)
    return volume.astype(np.float32)


def write_cohort(root: Path, n_series: int, shape_xyz: tuple[int, int, int],
                 spacing_xyz: tuple[float, float, float]) -> pd.DataFrame:
    """Write ``n_series`` DICOM series and an anonymize-style series.csv; return the table."""
    rng = np.random.default_rng(0)
    shape_zyx = shape_xyz[::-1]
    rows = []
    for s in range(n_series):
        uid = f"1.2.826.0.9.{s + 1}"
        direction = (1, 0, 0, 0, 1, 0, 0, 0, 1) if s % 2 == 0 else (1, 0, 0, 0, -1, 0, 0, 0, -1)
        geo = Geometry((-170.0, -170.0, -120.0), spacing_xyz, direction)
        rel = [f"dicom/{uid}/{k:04d}.dcm" for k in range(shape_zyx[0])]
        uids = SeriesUIDs(f"{uid}.1", uid, f"{uid}.2",
                          tuple(f"{uid}.3.{k}" for k in range(shape_zyx[0])))
        write_ct_series(chest_phantom(shape_zyx, rng), geo, [root / r for r in rel], IDENTITY,
                        uids)
        rows.append({"series_uid": uid, "patient_id": f"BP{s:03d}", "study_uid": f"{uid}.1",
                     "n_slices": shape_zyx[0], "slice_spacing_mm": spacing_xyz[2],
                     "files": "|".join(rel)})
    table = pd.DataFrame(rows)
    table.to_csv(root / "series.csv", index=False)
    return table


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN201 (benchmark helper)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_resample(root: Path, table: pd.DataFrame, jobs: int, work: Path) -> Path:
    images = [read_series_hu([root / f for f in files.split("|")]) for files in table["files"]]
    n = len(images)

    def baseline_resample() -> None:
        for image in images:
            grid, size = resampled_grid(Geometry.from_sitk(image), image.GetSize(), 1.0)
            sitk.Resample(image, list(size), sitk.Transform(), sitk.sitkLinear, grid.origin,
                          grid.spacing, grid.direction, AIR_HU, sitk.sitkFloat32)

    _, t_base = timed(baseline_resample)
    _, t_ours = timed(lambda: [resample_image(im, **PARAMS.resample_args()) for im in images])
    print(f"resample_image vs sitk.Resample (in memory, {n} series): "
          f"{n / t_ours:.2f} vs {n / t_base:.2f} series/s, ratio {t_base / t_ours:.2f}")

    def baseline_stage(out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for uid, files in zip(table["series_uid"], table["files"], strict=True):
            image = read_series_hu([root / f for f in files.split("|")])
            grid, size = resampled_grid(Geometry.from_sitk(image), image.GetSize(), 1.0)
            res = sitk.Resample(image, list(size), sitk.Transform(), sitk.sitkLinear,
                                grid.origin, grid.spacing, grid.direction, AIR_HU, sitk.sitkInt16)
            sitk.WriteImage(res, str(out / f"{uid}.nii.gz"), True)

    _, t_stage_base = timed(baseline_stage, work / "baseline")
    print(f"baseline stage loop (read + sitk.Resample + write .nii.gz): {n / t_stage_base:.2f} "
          "series/s")
    out = work / "volumes"
    for j in sorted({1, jobs}):
        for mask in (False, True):
            params = replace(PARAMS, lung_mask=mask)
            report, t = timed(resample_cohort, root, out / f"j{j}m{int(mask)}", params,
                              ExecutorParams(kind="local", jobs=j))
            print(f"resample_cohort jobs={j} lung_mask={mask}: {n / t:.2f} series/s, ratio "
                  f"{t_stage_base / t:.2f} vs baseline loop")
    final = out / f"j{jobs}m1"
    write_csv(final / "geometry.csv", report.geometry, float_format="%.6f")
    write_json(final / "resample.json", resample_provenance(PARAMS))
    return final


def bench_patches(volumes: Path, tables: Path, per_series: int, jobs: int) -> None:
    geometry = pd.read_csv(volumes / "geometry.csv", dtype={"series_uid": str})
    rng = np.random.default_rng(1)
    size = cube_size(32.0, 1.0)
    cands, arrays = [], []
    for row in geometry.itertuples():
        image = sitk.ReadImage(str(volumes / row.file))
        geo = Geometry.from_sitk(image)
        shape = np.array(image.GetSize()[::-1])
        voxels = rng.uniform(0, 1, (per_series, 3)) * (shape - 1)
        world = geo.voxel_to_world(voxels)
        arrays.append((sitk.GetArrayFromImage(image), geo, world))
        for k, w in enumerate(world):
            cands.append([row.series_uid, *w, int(k % 10 == 0)])
    total = len(cands)
    buffer = np.empty((per_series, size, size, size), dtype=np.int16)
    buffer[:] = 0  # touch the pages once: first-touch page faults are costly in a VM

    def baseline_gather() -> None:  # the copy alone: integer slices, no geometry, no padding
        for a, g, w in arrays:
            starts = np.clip(np.floor(g.world_to_voxel(w) + 0.5).astype(int) - size // 2, 0,
                             np.array(a.shape) - size)
            for n, (z, y, x) in enumerate(starts.tolist()):
                buffer[n] = a[z:z + size, y:y + size, x:x + size]

    _, t_base = timed(baseline_gather)
    _, t_out = timed(lambda: [extract_cubes(a, g, w, size, out=buffer) for a, g, w in arrays])
    _, t_fast = timed(lambda: [extract_cubes(a, g, w, size) for a, g, w in arrays])
    print(f"extract_cubes fast path into a reused buffer: {total / t_out:,.0f} candidates/s vs "
          f"plain numpy slice copy {total / t_base:,.0f}/s, ratio {t_base / t_out:.2f} "
          f"({total} candidates, {len(arrays)} volumes, C={size})")
    print(f"extract_cubes fast path, new output array: {total / t_fast:,.0f} candidates/s")
    a, g, w = arrays[0]
    oblique = Geometry(g.origin, g.spacing, rotation_matrix(10, "z"))
    _, t_obl = timed(extract_cubes, a, oblique, w[:200], size)
    print(f"extract_cubes oblique path (map_coordinates): {200 / t_obl:,.0f} candidates/s")
    pd.DataFrame(cands, columns=["seriesuid", "coordX", "coordY", "coordZ", "class"]).to_csv(
        tables / "candidates.csv", index=False)
    pd.DataFrame(columns=["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"]).to_csv(
        tables / "annotations.csv", index=False)
    params = PatchesParams(cube_mm=32.0, merge_distance_mm=0.0, jobs=jobs)
    for j in sorted({1, jobs}):
        result, t = timed(build_patches, volumes, tables, tables / f"patches{j}", params,
                          ExecutorParams(kind="local", jobs=j))
        print(f"build_patches jobs={j} (reads .nii.gz, writes .npy): "
              f"{len(result.index) / t:,.0f} candidates/s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--size", type=int, nargs=3, default=[160, 160, 100], help="x y z voxels")
    p.add_argument("--spacing", type=float, nargs=3, default=[2.2, 2.2, 2.5], help="x y z mm")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--candidates-per-series", type=int, default=2000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-resample-") as tmp:
        work = Path(tmp)
        root = work / "anonymized"
        table, t = timed(write_cohort, root, args.series, tuple(args.size), tuple(args.spacing))
        print(f"wrote {args.series} series of {args.size} voxels at {args.spacing} mm "
              f"in {t:.1f}s")
        volumes = bench_resample(root, table, args.jobs, work)
        bench_patches(volumes, root, args.candidates_per_series, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
