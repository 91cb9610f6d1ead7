"""The ``patches`` stage: world-aligned HU cubes around every candidate in one array
(``cubes.npy``), its index, labels and the tables evaluation reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.cli import StageReport
from pipeline.data.patches import PatchesResult, build_patches, write_patch_tables
from pipeline.data.patches_params import PatchesParams
from pipeline.fingerprint.findings import patches_fingerprint
from pipeline.fingerprint.parts import write_part
from pipeline.imaging.volume_table import GEOMETRY
from pipeline.io import atomic_dir, write_json
from pipeline.parallel import ExecutorParams


@dataclass
class PatchesReport(StageReport):
    result: PatchesResult
    volumes: Path
    output: Path

    def write(self, metrics: Path, fingerprint: Path | None = None) -> None:
        """The data metrics and, when asked for, the data fingerprint's patches part."""
        write_json(metrics, self.result.metrics)
        if fingerprint is not None:
            series = GEOMETRY.only("series_uid").read(self.volumes / GEOMETRY.file)["series_uid"]
            write_part(fingerprint, "patches", patches_fingerprint(
                self.result.index, self.result.annotations, self.result.rejected, list(series)))

    def summary(self) -> str:
        m = self.result.metrics
        return (f"{m['candidates']} patches ({m['positives']} positive) from {m['series']} "
                f"series of {m['patients']} patients, {m['rejected_candidates']} rejected -> "
                f"{self.output}")


def run(volumes: Path, tables: Path, output: Path, cfg: PatchesParams, executor: ExecutorParams,
        generated: Path | None = None) -> PatchesReport:
    """Cut the cubes of ``tables``/candidates.csv (or of the ``generated`` table: the generated
    track) from the ``volumes`` into ``output``, installed whole or not at all."""
    with atomic_dir(output) as tmp:
        result = build_patches(volumes.absolute(), tables.absolute(), tmp, cfg, executor,
                               None if generated is None else generated.absolute())
        write_patch_tables(tmp, result)
    return PatchesReport(result, volumes, output)
