"""The ``candidates`` stage: generate candidates on every resampled volume, label and measure them.

``run(volumes_dir, params, annotations)`` reads ``geometry.csv`` and the ``.nii.gz`` volumes of the
resample stage (docs/data-contracts.md), one worker per scan, and returns a report whose
``write`` puts ``candidates.csv`` and the metrics JSON in place atomically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk

from pipeline.cli import StageReport
from pipeline.detection.candidates import (
    CANDIDATES,
    LABELLED_CANDIDATES,
    generate_candidates,
)
from pipeline.detection.labels import generator_metrics, label_candidates
from pipeline.detection.params import CandidateParams
from pipeline.errors import InputError, PipelineError
from pipeline.imaging.geometry import Geometry
from pipeline.imaging.volume_table import GEOMETRY
from pipeline.io import write_json
from pipeline.parallel import ExecutorParams, map_items
from pipeline.tables import Table, read_table

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ScanTask:
    seriesuid: str
    path: str
    params: CandidateParams


@dataclass(frozen=True)
class CandidatesReport(StageReport):
    """``candidates`` (:data:`~pipeline.detection.candidates.CANDIDATES`, plus ``class`` and
    ``annotation_id`` when labelled) and the metrics (generator sensitivity, candidates per
    scan)."""

    candidates: pd.DataFrame
    metrics: dict[str, Any]
    seconds: float

    @property
    def table(self) -> Table:
        """The contract of ``candidates``: labelled or not."""
        return LABELLED_CANDIDATES if "class" in self.candidates.columns else CANDIDATES

    def write(self, candidates_csv: Path, metrics_json: Path) -> None:
        self.table.write(candidates_csv, self.candidates)
        write_json(metrics_json, self.metrics)

    def summary(self) -> str:
        m = self.metrics
        found = f", {m['nodules_found']}/{m['nodules']} nodules found" if "nodules" in m else ""
        return (f"{m['candidates']} candidates in {m['scans']} scans ({m['candidates_per_scan']} "
                f"per scan){found} in {self.seconds:.1f}s")


def scan_candidates(task: ScanTask) -> pd.DataFrame:
    """Worker: the candidates of one volume file."""
    image = sitk.ReadImage(task.path)
    volume = sitk.GetArrayFromImage(image)
    return generate_candidates(volume, Geometry.from_sitk(image), task.params, task.seriesuid)


def read_volume_table(volumes_dir: Path) -> pd.DataFrame:
    """``geometry.csv`` of the resample stage (:data:`~pipeline.imaging.volume_table.GEOMETRY`)."""
    path = Path(volumes_dir) / "geometry.csv"
    if not path.is_file():
        raise PipelineError(f"{path}: not found (expected the resample stage's output folder)")
    return GEOMETRY.only("series_uid", "file").read(path)


def read_annotations(path: str | Path) -> pd.DataFrame:
    """The LUNA16 annotations the candidates are labelled against, validated (one line naming
    the file, row and column of a bad cell); extra columns (texture, location...) are kept."""
    if not Path(path).is_file():
        raise InputError(f"{path}: annotations CSV not found")
    return read_table(path, "annotations")


def run(volumes_dir: Path, params: CandidateParams, annotations: pd.DataFrame | None = None,
        executor: ExecutorParams | None = None) -> CandidatesReport:
    """Candidates of every volume of ``volumes_dir``, labelled when ``annotations`` are given."""
    start = time.perf_counter()
    table = read_volume_table(volumes_dir)
    tasks = [ScanTask(r.series_uid, str(Path(volumes_dir) / r.file), params)
             for r in table.itertuples(index=False)]
    frames = map_items(scan_candidates, tasks, executor or ExecutorParams(jobs=params.jobs),
                       desc="candidates")
    frames = [f for f in frames if len(f)]
    candidates = (pd.concat(frames, ignore_index=True) if frames
                  else CANDIDATES.frame())
    metrics: dict[str, Any] = {"max_candidates": params.max_candidates}
    if annotations is not None:
        candidates = label_candidates(candidates, annotations)
        metrics.update(generator_metrics(candidates, annotations, table["series_uid"]))
    else:
        metrics.update(scans=len(tasks), candidates=int(len(candidates)),
                       candidates_per_scan=round(len(candidates) / max(len(tasks), 1), 2))
    seconds = time.perf_counter() - start
    log.info("%d candidates in %d scans in %.1fs", len(candidates), len(tasks), seconds)
    return CandidatesReport(candidates=candidates, metrics=metrics, seconds=seconds)
