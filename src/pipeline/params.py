"""All of ``params.yaml`` at once, for tools, tests and benchmarks (stages read only their own
sections with :func:`pipeline.config.load_section`, so no stage imports this module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import build, read_yaml
from pipeline.data.cv_params import CvParams
from pipeline.data.params import DataParams
from pipeline.data.patches_params import PatchesParams
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.dicom.params import IngestParams
from pipeline.errors import ConfigError
from pipeline.evaluation.params import EvaluateParams
from pipeline.export.params import ExportParams
from pipeline.imaging.params import ResampleParams
from pipeline.parallel import ExecutorSection
from pipeline.synth.params import SynthesizeParams
from pipeline.training.params import TrainParams

#: Sections validated by their own package's loader (not dataclasses of this aggregate).
PACKAGE_SECTIONS = ("candidates", "node", "shift")


@dataclass(frozen=True)
class Params:
    data: DataParams
    synthesize: SynthesizeParams
    ingest: IngestParams
    anonymize: AnonymizeParams
    resample: ResampleParams
    patches: PatchesParams
    cv: CvParams
    train: TrainParams
    baseline: TrainParams
    evaluate: EvaluateParams
    export: ExportParams
    executor: ExecutorSection


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate every section of ``params.yaml``; every error names the key."""
    raw = {k: v for k, v in read_yaml(path).items() if k not in PACKAGE_SECTIONS}
    try:
        return build(Params, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
