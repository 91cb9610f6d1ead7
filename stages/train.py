"""Train one fold of the cross-validation: the model named in params (--role model: `train`, or
--role baseline: `baseline`) on the other folds, select epoch and threshold on an inner validation
part of them, score the held-out fold.

Writes OUTPUT/{model.pt, oof.csv, summary.json}; training curves go to --live (dvclive) and
timings, which vary run to run, to --timing (untracked). Runs in one process, or data-parallel with
`torchrun --nproc_per_node N stages/train.py ...` (gloo on CPU); only rank 0 writes outputs.
"""

import argparse
import math
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.params import CvParams
from pipeline.io import write_bytes, write_csv, write_json
from pipeline.training.checkpoint import checkpoint_bytes
from pipeline.training.distributed import cleanup, init_distributed
from pipeline.training.loop import resolve_device
from pipeline.training.params import TrainParams
from pipeline.training.run import fit_fold

SECTIONS = {"model": "train", "baseline": "baseline"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--role", choices=sorted(SECTIONS), default="model")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--folds", type=Path, default=Path("data/processed/folds.csv"))
    p.add_argument("--output", type=Path, default=None,
                   help="default: models/cv/<role>/fold<N>")
    p.add_argument("--live", type=Path, default=None,
                   help="dvclive folder (default plots/train/<role>/fold<N>; '' to disable)")
    p.add_argument("--timing", type=Path, default=None,
                   help="timings (default logs/train/<role>_fold<N>.json, not tracked)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def run(args) -> int:
    cfg = load_section(args.params, SECTIONS[args.role], TrainParams)
    cv = load_section(args.params, "cv", CvParams)
    tag = f"{args.role}/fold{args.fold}"
    output = args.output or Path("models/cv") / tag
    live_dir = Path("plots/train") / tag if args.live is None else args.live
    timing_path = args.timing or Path("logs/train") / f"{args.role}_fold{args.fold}.json"
    dist = init_distributed(resolve_device(cfg.device).type)  # torchrun --nproc_per_node N ...
    live = None
    if dist.is_main and str(live_dir) not in ("", "."):
        from dvclive import Live

        live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None)

    def on_epoch(epoch: int, m: dict) -> None:
        if live is None:
            return
        for key in ("train_loss", "val_loss", "val_auc", "val_sensitivity", "val_specificity"):
            if not math.isnan(m[key]):
                live.log_metric(key.replace("_", "/", 1), m[key])
        live.next_step()

    result = fit_fold(args.patches, args.folds, args.fold, cfg, cv, on_epoch=on_epoch,
                      dist_info=dist)
    cleanup()
    if not dist.is_main:
        return 0
    if live is not None:
        live.end()
    write_bytes(output / "model.pt", checkpoint_bytes(result.checkpoint))
    write_csv(output / "oof.csv", result.oof, float_format="%.6f")
    write_json(output / "summary.json", result.summary)
    write_json(timing_path, result.timing)
    s, t = result.summary, result.timing
    print(f"{tag}: {s['model']} best epoch {s['best_epoch']}/{s['epochs_run']}, inner val AUC "
          f"{_f(s['val_auc'])}, held-out AUC {_f(s['heldout']['auc'])} at threshold "
          f"{s['threshold']:.3f}; {t['train_seconds']:.1f}s ({t['samples_per_second']:.0f} "
          f"samples/s)")
    return 0


def main(argv=None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
