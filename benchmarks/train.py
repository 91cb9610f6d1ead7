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

from pipeline.config import TrainParams
from pipeline.data.toy_patches import write_toy_patches
from pipeline.training.run import fit


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
        patches = write_toy_patches(Path(tmp), {"train": args.n_train, "val": 64, "test": 8},
                                    cube_size=args.cube, slice_px=args.slice_px)
        for workers in args.workers:
            for model in args.models:
                cfg = TrainParams(model=model, seed=0, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=1e-3, weight_decay=0.0,
                                  balance="sampler", augment=True,
                                  early_stopping_patience=args.epochs, device="cpu",
                                  num_workers=workers)
                _, m = fit(patches, cfg)
                t = m["timing"]
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
