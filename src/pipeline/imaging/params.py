"""``resample:`` of ``params.yaml``: the isotropic grid every volume is resampled to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipeline.config import Section, bounds


@dataclass(frozen=True)
class ResampleParams(Section):
    """Target spacing, interpolation, HU clipping (volumes are stored as int16) and lung mask."""

    SECTION = "resample"

    spacing_mm: float = bounds(0, lo_open=True)
    interpolator: Literal["linear", "bspline"] = bounds()
    hu_range: tuple[float, float] = bounds(-32768, 32767, ordered=True)
    anti_alias: bool = bounds()
    lung_mask: bool = bounds()
    jobs: int = bounds(1)

    def resample_args(self) -> dict[str, Any]:
        """The keyword arguments of :func:`pipeline.imaging.resample.resample_image`."""
        return {"spacing_mm": self.spacing_mm, "interpolator": self.interpolator,
                "hu_range": self.hu_range, "anti_alias": self.anti_alias}
