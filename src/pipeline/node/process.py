"""The node's processing step: one sealed series folder in, DICOM results out.

``Processor`` is any callable ``(series_dir, out_dir) -> ProcessResult``; the node calls it from
a worker thread and sends what it returns. The default, ``PredictProcessor``, runs ``predict``
without candidates (the exported ONNX model, no torch) with ``--report``, which writes the TID
1500 SR (``sr.dcm``, or ``sr_<n>.dcm`` per series) and the findings pictures.

By default predict runs in a child process (``sys.executable -m pipeline.export.predict_cli``):
a crash, a runaway memory use or a hang on one odd series (native code: SimpleITK, ONNX Runtime,
pixel decoders) then fails that series, with a timeout, instead of taking the node and every
series in its queue down; memory is returned to the system after each series. It costs an
interpreter start and the imports (about a second) per series, small beside the quiet time that
precedes it. ``isolate: false`` runs it in the node's process instead.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.node.sr import count_findings

log = logging.getLogger(__name__)

PREDICT_MODULE = "pipeline.export.predict_cli"


class ProcessingError(PipelineError):
    """A series could not be processed (unusable series, predict failed or timed out)."""


@dataclass(frozen=True)
class ProcessResult:
    """What to send back for one series."""

    sr_paths: tuple[Path, ...]
    sc_paths: tuple[Path, ...] = ()
    findings: int = 0

    @property
    def files(self) -> tuple[Path, ...]:
        return self.sr_paths + self.sc_paths


Processor = Callable[[Path, Path], ProcessResult]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


NO_FINDING_STATUSES = {"scored", "no_candidates"}


def _explain_no_sr(predictions: Path) -> None:
    """predict writes no SR for a series without findings (TID 1500 needs a measurement group);
    anything else without an SR (a rejected or unreadable series) is a failure, with its reason.
    """
    import csv

    if not predictions.is_file():
        raise ProcessingError("predict wrote neither an SR nor predictions.csv")
    with open(predictions, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r for r in rows if r.get("status") not in NO_FINDING_STATUSES]
    if not rows or bad:
        first = bad[0] if bad else {}
        raise ProcessingError(f"predict scored nothing: {first.get('status', 'no rows')}: "
                              f"{first.get('reason', '')}".rstrip(": "))
    if any(r.get("prediction") == "1" for r in rows):
        raise ProcessingError("predict found findings above the threshold but wrote no SR")


@dataclass(frozen=True)
class PredictProcessor:
    """Run ``predict --report`` on the series; optionally add Secondary Captures of its pictures."""

    model: Path
    isolate: bool = True
    secondary_capture: bool = False
    timeout_s: float = 900.0

    def argv(self, series_dir: Path, out_dir: Path) -> list[str]:
        return ["--dicom", str(series_dir), "--output", str(out_dir / "predictions.csv"),
                "--model", str(self.model), "--report", str(out_dir / "report")]

    def _run(self, argv: list[str]) -> None:
        if not self.isolate:
            from pipeline.export.predict_cli import main

            if main(argv) != 0:
                raise ProcessingError("predict refused the series (see the log above)")
            return
        try:
            done = subprocess.run([sys.executable, "-m", PREDICT_MODULE, *argv],
                                  capture_output=True, text=True, timeout=self.timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ProcessingError(f"predict did not finish in {self.timeout_s:.0f} s") from None
        if done.returncode != 0:
            raise ProcessingError(f"predict exited with status {done.returncode}: "
                                  f"{_last_line(done.stderr)}")

    def __call__(self, series_dir: Path, out_dir: Path) -> ProcessResult:
        self._run(self.argv(series_dir, out_dir))
        report = out_dir / "report"
        srs = tuple(sorted(report.glob("sr*.dcm")))
        if not srs:
            _explain_no_sr(out_dir / "predictions.csv")
            return ProcessResult(())  # a usable series with no finding: nothing to send
        scs: tuple[Path, ...] = ()
        if self.secondary_capture:
            from pipeline.node.capture import secondary_capture

            reference = next(iter(sorted(series_dir.glob("*.dcm"))))
            pictures = sorted(report.glob("*.png"))
            scs = tuple(secondary_capture(png, reference, out_dir / "sc" / f"sc_{i}.dcm", i)
                        for i, png in enumerate(pictures, start=1))
        return ProcessResult(srs, scs, sum(count_findings(p) for p in srs))
