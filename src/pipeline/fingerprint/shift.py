"""The shift check: does a data version, or one series, lie outside what a model was trained on?

The training fingerprint is reduced to *ranges* (:func:`training_ranges`): the scanners and
kernels seen, the min-max of slice thickness, slice spacing and pixel spacing, and the lung HU
median. A data version is flagged (:func:`cohort_shift`) when, beyond the ``shift:`` thresholds of
params.yaml, it has a scanner or kernel never seen, a spacing outside the range (widened by
``range_margin`` of each bound), or a lung HU median moved by more than ``lung_hu_median_delta``.
One series is checked the same way on its acquisition (:func:`series_shift`), by predict, from the
ranges the export stage ships beside the model (:func:`write_model_ranges`).

No PyTorch here: predict imports this module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Section, bounds, build, load_section
from pipeline.errors import ConfigError
from pipeline.io import read_json, write_json

SECTION = "shift"
FORMAT_VERSION = 1
RANGE_KEYS = ("slice_thickness_mm", "slice_spacing_mm", "pixel_spacing_mm")
NOT_NAMES = ("unknown", "withheld (contains an identifier)")


@dataclass(frozen=True)
class ShiftParams(Section):
    """``shift:`` in params.yaml: when a data version or a series counts as shifted."""

    SECTION = "shift"

    lung_hu_median_delta: float = bounds(0, lo_open=True)  # HU
    # fraction of a bound a spacing may exceed the training range by
    range_margin: float = bounds(0, 1, hi_open=True)
    unseen_scanner: bool = bounds()
    unseen_kernel: bool = bounds()


def load_shift_params(path: str | Path) -> ShiftParams:
    """Read the ``shift:`` section of a params file.

    Raises:
        ConfigError: no such file, no section, or a bad key (named).
    """
    return load_section(path, SECTION, ShiftParams)


def _names(counts: Mapping[str, int]) -> list[str]:
    return sorted(k for k in counts if k not in NOT_NAMES)


def training_ranges(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """What a model's training data covered, from a merged fingerprint (``ingest``, ``resample``
    parts; see :func:`pipeline.fingerprint.card.read_parts`)."""
    ingest = fingerprint["ingest"]
    ranges: dict[str, Any] = {"series": ingest["series"],
                              "scanners": _names(ingest["scanners"]),
                              "kernels": _names(ingest["kernels"])}
    for key in RANGE_KEYS:
        s = ingest[key]["summary"]
        ranges[key] = None if s["min"] is None else [s["min"], s["max"]]
    resample = fingerprint.get("resample") or {}
    ranges["lung_hu_median"] = (resample.get("lung_hu") or {}).get("p50")
    return ranges


def _fmt(v: float) -> str:
    return f"{v:g}"


def _outside(value_range: Sequence[float], allowed: Sequence[float], margin: float) -> bool:
    lo, hi = allowed[0] * (1 - margin), allowed[1] * (1 + margin)
    return value_range[0] < lo - 1e-9 or value_range[1] > hi + 1e-9


LABELS = {"slice_thickness_mm": "slice thickness", "slice_spacing_mm": "slice spacing",
          "pixel_spacing_mm": "pixel spacing"}


def _range_findings(values: Mapping[str, Sequence[float] | None], ranges: Mapping[str, Any],
                    params: ShiftParams) -> list[str]:
    found = []
    for key in RANGE_KEYS:
        got, allowed = values.get(key), ranges.get(key)
        if got is None or allowed is None or not _outside(got, allowed, params.range_margin):
            continue
        shown = _fmt(got[0]) if got[0] == got[1] else f"{_fmt(got[0])}-{_fmt(got[1])}"
        found.append(f"{LABELS[key]} {shown} mm outside the training range "
                     f"{_fmt(allowed[0])}-{_fmt(allowed[1])} mm")
    return found


def series_shift(facts: Mapping[str, Any], ranges: Mapping[str, Any], params: ShiftParams
                 ) -> list[str]:
    """Why one series (facts of :func:`pipeline.fingerprint.acquisition.series_facts`) lies
    outside the training ranges; ``[]`` when inside."""
    found = []
    if params.unseen_scanner and facts.get("scanner") and ranges.get("scanners") and \
            facts["scanner"] not in ranges["scanners"] and \
            facts.get("manufacturer") not in NOT_NAMES:
        found.append(f"scanner never seen in training: {facts['scanner']}")
    if params.unseen_kernel and ranges.get("kernels") and facts.get("kernel") not in NOT_NAMES \
            and facts.get("kernel") not in ranges["kernels"]:
        found.append(f"kernel never seen in training: {facts['kernel']}")
    values = {}
    for key in RANGE_KEYS:
        v = facts.get(key)
        values[key] = None if v is None or not math.isfinite(float(v)) else [float(v), float(v)]
    return found + _range_findings(values, ranges, params)


def cohort_shift(current: Mapping[str, Any], ranges: Mapping[str, Any], params: ShiftParams
                 ) -> list[str]:
    """Why a data version (a merged fingerprint) differs from the training ranges beyond the
    thresholds; ``[]`` when it does not."""
    ingest = current["ingest"]
    found = []
    for kind, flag in (("scanners", params.unseen_scanner), ("kernels", params.unseen_kernel)):
        new = [n for n in _names(ingest[kind]) if n not in ranges.get(kind, [])]
        if flag and new and ranges.get(kind):
            found.append(f"{kind[:-1]}{'s' if len(new) > 1 else ''} never seen in training: "
                         + ", ".join(f"{n} ({ingest[kind][n]} series)" for n in new))
    values = {}
    for key in RANGE_KEYS:
        s = ingest[key]["summary"]
        values[key] = None if s["min"] is None else [s["min"], s["max"]]
    found += _range_findings(values, ranges, params)
    median = ((current.get("resample") or {}).get("lung_hu") or {}).get("p50")
    trained = ranges.get("lung_hu_median")
    if median is not None and trained is not None and \
            abs(median - trained) > params.lung_hu_median_delta:
        found.append(f"lung HU median {_fmt(median)} moved {median - trained:+g} HU from the "
                     f"training {_fmt(trained)} (threshold {_fmt(params.lung_hu_median_delta)})")
    return found


def ranges_path(model_path: str | Path) -> Path:
    """Where the training ranges of ``models/model.onnx`` live: ``models/model.fingerprint.json``
    (the model file name with ``.fingerprint.json`` for its suffix)."""
    return Path(model_path).with_suffix(".fingerprint.json")


def write_model_ranges(model_path: str | Path, ranges: Mapping[str, Any], params: ShiftParams
                       ) -> Path:
    """Write the training ranges and thresholds beside the model; returns the file written."""
    path = ranges_path(model_path)
    write_json(path, {"format_version": FORMAT_VERSION, "ranges": dict(ranges),
                      "thresholds": dataclasses.asdict(params)})
    return path


def read_model_ranges(model_path: str | Path) -> tuple[dict[str, Any], ShiftParams] | None:
    """The ranges and thresholds shipped beside a model, or None when it has none.

    Raises:
        ConfigError: the file exists but is unreadable.
    """
    path = ranges_path(model_path)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        return dict(data["ranges"]), build(ShiftParams, dict(data["thresholds"]), SECTION)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable training fingerprint ranges: {exc}") from None
