"""Benchmark training throughput per model on synthetic 32 mm cubes, in one run.

Prints, for each model, training samples/s (augmentation on, as in the pipeline) and the share of
step time spent waiting for the data loader, then the throughput ratio to the seed2d baseline.
Figures are measured here, on this machine, in the same run; nothing is asserted.

    python benchmarks/train.py --n-train 256 --epochs 2 --models seed2d cnn3d multiview
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from pipeline.data.cv_params import CvParams
from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
from pipeline.training.params import TrainParams
from pipeline.training.run import fit_fold


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cube", type=int, default=32)
    p.add_argument("--slice-px", type=int, default=28)
    p.add_argument("--workers", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", nargs="+", default=["seed2d", "cnn3d"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # 3 folds: fold 0 trains on two thirds of the cubes (n_train of them)
        patches = write_toy_patches(Path(tmp) / "patches", n_candidates=args.n_train * 3 // 2,
                                    cube_size=args.cube)
        folds = write_toy_folds(patches, Path(tmp) / "folds.csv", folds=3)
        cv = CvParams(folds=3, fold_ids=(0, 1, 2), seed=7, inner_val=0.01)
        for workers in args.workers:
            for model in args.models:
                cfg = TrainParams(model=model, seed=0, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=1e-3, weight_decay=0.0,
                                  balance="sampler", augment=True,
                                  early_stopping_patience=args.epochs, device="cpu",
                                  num_workers=workers, hu_window=(-1000.0, 400.0),
                                  slice_px=args.slice_px, threshold="youden",
                                  target_sensitivity=0.9)
                result = fit_fold(patches, folds, 0, cfg, cv)
                m, t = result.summary, result.timing
                rows.append((model, workers, t["samples_per_second"], t["data_wait_fraction"],
                             m["parameters"]))
    base = {w: s for model, w, s, _, _ in rows if model == "seed2d"}
    print(f"{'model':<10} {'workers':>7} {'params':>8} {'samples/s':>10} {'data wait':>10} "
          f"{'vs seed2d':>10}")
    for model, workers, sps, wait, params in rows:
        ratio = f"{sps / base[workers]:.2f}x" if base.get(workers) else "-"
        print(f"{model:<10} {workers:>7} {params:>8} {sps:>10.1f} {wait:>10.1%} {ratio:>10}")
    print(f"(cube {args.cube}^3, {args.n_train} training cubes, batch {args.batch_size}, "
          f"{args.epochs} epochs, torch threads {args.threads}, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
