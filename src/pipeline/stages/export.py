"""The ``export`` stage: the deployed model, the ensemble of the cross-validation's fold models,
as one ONNX graph, gated on ONNX Runtime vs PyTorch parity over sampled cubes; the training
data's ranges ship beside it for predict's shift check."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.cli import StageReport
from pipeline.errors import ParityError
from pipeline.export.params import ExportParams
from pipeline.export.run import ExportResult, export_ensemble
from pipeline.fingerprint.parts import read_parts
from pipeline.fingerprint.shift import ShiftParams, training_ranges, write_model_ranges
from pipeline.io import write_bytes, write_json

log = logging.getLogger("export")


@dataclass
class ExportReport(StageReport):
    result: ExportResult
    folds: int
    cfg: ExportParams
    output: Path

    def write(self, metrics: Path, latency: Path, fingerprint: Path, shift: ShiftParams) -> None:
        """The model, its training ranges (from the ``fingerprint`` parts, when there are any),
        the export report and the (untracked) latency timings."""
        write_bytes(self.output, self.result.onnx_bytes)
        if (fingerprint / "ingest.json").is_file():  # stand-alone runs may have none
            write_model_ranges(self.output, training_ranges(read_parts(fingerprint)), shift)
        else:
            log.warning("no fingerprint in %s: the model ships without its training ranges "
                        "(predict cannot check for shift)", fingerprint)
        write_json(metrics, self.result.metrics)
        write_json(latency, self.result.latency)

    def summary(self) -> str:
        r, cfg = self.result, self.cfg
        lat = r.latency[f"batch_{cfg.large_batch}"]
        return (f"exported the {self.folds}-fold ensemble of {r.metrics['model_name']} to "
                f"{self.output} (opset {cfg.opset}): max |onnx - torch| = "
                f"{r.parity.max_abs_diff:.2g} <= {cfg.parity_atol:g}; batch {cfg.large_batch}: "
                f"{lat['onnx_ms_per_sample']:.3f} ms/sample onnx vs "
                f"{lat['torch_ms_per_sample']:.3f} torch")


def run(folds_dir: Path, patches: Path, fold_ids: Sequence[int], cfg: ExportParams,
        output: Path) -> ExportReport:
    """Export the fold models ``<folds_dir>/fold<i>/model.pt`` as one graph (written by
    :meth:`ExportReport.write` to ``output``).

    Raises:
        ParityError: ONNX Runtime disagrees with PyTorch; a previous ``output`` is removed, so a
            stale model cannot pass for the one that failed its gate.
    """
    try:
        result = export_ensemble([folds_dir / f"fold{i}" / "model.pt" for i in fold_ids],
                                 patches, cfg)
    except ParityError:
        output.unlink(missing_ok=True)
        raise
    return ExportReport(result, len(fold_ids), cfg, output)
