"""What the numerical pin costs: training time with oneDNN capped at AVX2, MKL on its
``COMPATIBLE`` branch and ATen on AVX2 (the default, ``pipeline/numerics.py``) against the CPU's
native kernels (``LUNG_NUMERICS=native``), in one run, alternating, median of repeats.

On an AVX2 CPU the convolutions run the same kernels (expect ~1.0x); on an AVX-512 CPU the ratio
is the price of byte-identical results across machines. Figures are measured, not asserted.

    python benchmarks/numerics_pin.py --repeats 3 --n 256 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = """
import sys
from pathlib import Path
from pipeline.data.cv_params import CvParams
from pipeline.training.params import TrainParams
from pipeline.training.run import fit_fold
root = Path(sys.argv[1])
cfg = TrainParams(model="cnn3d", seed=3, epochs=int(sys.argv[2]), batch_size=32, lr=1e-3,
                  weight_decay=0.0, balance="sampler", augment=True, early_stopping_patience=99,
                  device="cpu", num_workers=0, hu_window=(-1000.0, 400.0), slice_px=28,
                  threshold="youden", target_sensitivity=0.9)
fit_fold(root / "patches", root / "folds.csv", 0, cfg, CvParams(2, (0, 1), 7, 0.25))
"""


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=256, help="toy candidates (cubes of 32 voxels)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
    from pipeline.numerics import PINNED_ENVIRONMENT

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_toy_patches(root / "patches", n_candidates=args.n, cube_size=32)
        write_toy_folds(root / "patches", root / "folds.csv", folds=2)
        times: dict[str, list[float]] = {"pinned": [], "native": []}
        for _ in range(args.repeats):
            for mode in times:
                env = {**os.environ, "LUNG_NUMERICS": "pinned" if mode == "pinned" else "native"}
                for name in PINNED_ENVIRONMENT:
                    env.pop(name, None)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", TRAIN, str(root), str(args.epochs)],
                               env=env, check=True, capture_output=True)
                times[mode].append(time.perf_counter() - start)
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"CPU AVX-512: {'yes' if _cpu_has('avx512f') else 'no'}; AVX2: "
          f"{'yes' if _cpu_has('avx2') else 'no'}")
    for mode, values in times.items():
        print(f"{mode:>7}: median {med[mode]:.1f} s over {len(values)} runs "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    print(f"pinned / native training time: {med['pinned'] / med['native']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
