"""The ``train`` stage (``train@i``, ``train_baseline@i``): one fold of the cross-validation.

Trains the model of one parameter section on the other folds, selects the epoch and threshold on
an inner validation part of them and scores the held-out fold. One process, or data-parallel
under ``torchrun --nproc_per_node N`` (gloo on CPU); only rank 0 writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cli import StageReport
from pipeline.data.cv_params import CvParams
from pipeline.io import write_bytes, write_json
from pipeline.training.checkpoint import checkpoint_bytes
from pipeline.training.distributed import cleanup, init_distributed
from pipeline.training.loop import resolve_device
from pipeline.training.oof import OOF
from pipeline.training.params import TrainParams
from pipeline.training.run import FoldResult, fit_fold

#: role -> the params.yaml section it trains with
SECTIONS = {"model": "train", "baseline": "baseline"}
#: the per-epoch figures logged to dvclive (plots/train/<role>/fold<i>)
LIVE_METRICS = ("train_loss", "val_loss", "val_auc", "val_sensitivity", "val_specificity")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@dataclass
class TrainReport(StageReport):
    """The fold's result; ``is_main`` is False on the other ranks of a torchrun (nothing to
    write or say there)."""

    tag: str
    result: FoldResult | None

    def write(self, output: Path, timing: Path) -> None:
        """``output``/{model.pt, oof.csv, summary.json} and the (untracked) timings."""
        if self.result is None:
            return
        write_bytes(output / "model.pt", checkpoint_bytes(self.result.checkpoint))
        OOF.write(output / OOF.file, self.result.oof)
        write_json(output / "summary.json", self.result.summary)
        write_json(timing, self.result.timing)

    def summary(self) -> str:
        if self.result is None:
            return ""
        s, t = self.result.summary, self.result.timing
        return (f"{self.tag}: {s['model']} best epoch {s['best_epoch']}/{s['epochs_run']}, inner "
                f"val AUC {_f(s['val_auc'])}, held-out AUC {_f(s['heldout']['auc'])} at "
                f"threshold {s['threshold']:.3f}; {t['train_seconds']:.1f}s "
                f"({t['samples_per_second']:.0f} samples/s)")


def run(patches: Path, folds: Path, fold: int, role: str, cfg: TrainParams, cv: CvParams,
        live_dir: Path | None = None) -> TrainReport:
    """Train fold ``fold`` of ``folds`` (the folds stage's table) on the cubes of ``patches``.

    ``live_dir``: dvclive's folder for the training curves (None: none are logged).
    """
    dist = init_distributed(resolve_device(cfg.device).type)  # torchrun --nproc_per_node N ...
    live: Any = None
    if dist.is_main and live_dir is not None:
        from dvclive import Live

        live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None)

    def on_epoch(epoch: int, m: dict[str, float]) -> None:
        if live is None:
            return
        for key in LIVE_METRICS:
            if not math.isnan(m[key]):
                live.log_metric(key.replace("_", "/", 1), m[key])
        live.next_step()

    result = fit_fold(patches, folds, fold, cfg, cv, on_epoch=on_epoch, dist_info=dist)
    cleanup()
    if live is not None:
        live.end()
    return TrainReport(f"{role}/fold{fold}", result if dist.is_main else None)
