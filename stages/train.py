"""Train the nodule classifier named in params (train.model) on the patches' train split.

Runs in one process, or data-parallel with `torchrun --nproc_per_node N stages/train.py` (gloo on
CPU); only rank 0 writes outputs."""

import argparse
import math
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_params
from pipeline.io import write_bytes, write_json
from pipeline.training.checkpoint import checkpoint_bytes
from pipeline.training.distributed import cleanup, init_distributed
from pipeline.training.loop import resolve_device
from pipeline.training.run import fit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--model", type=Path, default=Path("models/model.pt"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    p.add_argument("--live", type=Path, default=Path("plots/train"),
                   help="dvclive folder for the training curves ('' to disable)")
    p.add_argument("--timing", type=Path, default=Path("reports/train_timing.json"),
                   help="timings (vary run to run, so not in the metrics)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    cfg = load_params(args.params).train
    dist = init_distributed(resolve_device(cfg.device).type)  # torchrun --nproc_per_node N ...
    live = None
    if dist.is_main and str(args.live) not in ("", "."):
        from dvclive import Live

        live = Live(dir=str(args.live), save_dvc_exp=False, dvcyaml=None, report=None)

    def on_epoch(epoch: int, m: dict) -> None:
        if live is None:
            return
        for key in ("train_loss", "val_loss", "val_auc", "val_sensitivity", "val_specificity"):
            if not math.isnan(m[key]):
                live.log_metric(key.replace("_", "/", 1), m[key])
        live.next_step()

    checkpoint, metrics = fit(args.patches, cfg, on_epoch=on_epoch, dist_info=dist)
    cleanup()
    if not dist.is_main:
        return 0
    if live is not None:
        live.end()
    write_bytes(args.model, checkpoint_bytes(checkpoint))
    timing = metrics.pop("timing")
    write_json(args.metrics, {k: (None if isinstance(v, float) and math.isnan(v) else v)
                              for k, v in metrics.items()})
    write_json(args.timing, timing)
    print(f"trained {metrics['model']}: best epoch {metrics['best_epoch']}/{metrics['epochs_run']}"
          f", val AUC {metrics['val_auc']:.4f}, {timing['train_seconds']:.1f}s "
          f"({timing['samples_per_second']:.0f} samples/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
