"""The ``synthesize`` stage: the embedded synthetic cohort (DICOM + LUNA16 tables), a preview."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.cli import StageReport
from pipeline.io import atomic_path, write_json
from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import CohortResult, synthesize_cohort
from pipeline.synth.params import SynthesizeParams
from pipeline.synth.preview import save_preview


@dataclass
class SynthesizeReport(StageReport):
    cohort: CohortResult
    seconds: float

    def write(self, preview: Path, metrics: Path) -> None:
        with atomic_path(preview, suffix=".png") as tmp:
            save_preview([p.preview for p in self.cohort.patients if p.preview is not None],
                         tmp)
        write_json(metrics, self.cohort.metrics)

    def summary(self) -> str:
        m = self.cohort.metrics
        return (f"synthesized {m['patients']} patients, {m['series']} series, {m['slices']} "
                f"slices ({m['mb_on_disk']:.1f} MB), {m['nodules']} nodules, {m['candidates']} "
                f"candidates in {self.seconds:.1f}s")


def run(output: Path, cfg: SynthesizeParams, executor: ExecutorParams) -> SynthesizeReport:
    """Write the cohort to ``output`` (atomically, byte-identical for the same params)."""
    start = time.perf_counter()
    cohort = synthesize_cohort(output.absolute(), cfg, executor)
    return SynthesizeReport(cohort, time.perf_counter() - start)
