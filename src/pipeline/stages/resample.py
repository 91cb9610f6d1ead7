"""The ``resample`` stage: de-identified CT series (DICOM or MetaImage) -> isotropic int16 HU
volumes (.nii.gz), their geometry table, rejections and the lung masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.cli import StageReport
from pipeline.dicom.params import IngestParams
from pipeline.dicom.scan import ingest_scanner
from pipeline.errors import InputError
from pipeline.fingerprint.parts import write_part
from pipeline.fingerprint.volumes import resample_fingerprint
from pipeline.imaging.params import ResampleParams
from pipeline.imaging.resample_cohort import ResampleResult, resample_cohort, write_resample_tables
from pipeline.io import atomic_dir, check_separate
from pipeline.metaimage.detect import resolve_format
from pipeline.metaimage.scan import metaimage_scanner
from pipeline.parallel import ExecutorParams
from pipeline.tables import ANONYMIZED_SERIES


@dataclass
class ResampleReport(StageReport):
    result: ResampleResult
    spacing_mm: float
    output: Path
    executor: ExecutorParams

    def write(self, fingerprint: Path | None = None) -> None:
        """The data fingerprint's resample part (HU, sizes, lung volumes), when asked for."""
        if fingerprint is not None:
            write_part(fingerprint, "resample", resample_fingerprint(self.output, self.executor))

    def summary(self) -> str:
        return (f"resampled {len(self.result.geometry)} series to {self.spacing_mm} mm "
                f"({len(self.result.rejected)} rejected) in {self.result.seconds:.1f}s -> "
                f"{self.output}")


def stand_alone(input: Path) -> bool:
    """``input`` is not anonymize's output (no ``series.csv``): its series are grouped and checked
    here with the ingest parameters."""
    return not (input / ANONYMIZED_SERIES.file).is_file()


def run(input: Path, output: Path, cfg: ResampleParams, executor: ExecutorParams,
        raw_root: Path, ingest: IngestParams | None = None,
        data_format: str = "auto") -> ResampleReport:
    """Resample every series of ``input`` into ``output`` (installed whole, or not at all).

    ``input`` is anonymize's output (its ``series.csv`` lists the series; MetaImage paths are
    relative to ``raw_root``, the raw folder) or, stand-alone, any folder of DICOM or MetaImage,
    grouped with the checks of ``ingest`` (``data_format``: auto, dicom, metaimage).

    Raises:
        InputError: no series could be resampled (the previous output is kept).
    """
    scan, raw_root = None, raw_root.absolute()
    if stand_alone(input):
        if ingest is None:
            raise ValueError("a stand-alone resample needs the ingest parameters")
        if resolve_format(input, data_format, "pass --format") == "metaimage":
            scan, raw_root = metaimage_scanner(ingest, executor), input.absolute()
        else:
            scan = ingest_scanner(ingest, executor)
    check_separate(input, output)
    with atomic_dir(output) as tmp:
        result = resample_cohort(input.absolute(), tmp, cfg, executor, scan=scan,
                                 raw_root=raw_root)
        write_resample_tables(tmp, result, cfg)
        if result.geometry.empty:  # keep the previous output rather than an empty one
            raise InputError(f"{input}: no series could be resampled "
                             f"({len(result.rejected)} rejected); {output} kept as it was")
    return ResampleReport(result, cfg.spacing_mm, output, executor)
