"""The shift check: silent inside the training ranges, one reason per fact outside them."""

from __future__ import annotations

import math

import pytest

from pipeline.errors import ConfigError
from pipeline.fingerprint.shift import (
    ShiftParams,
    cohort_shift,
    load_shift_params,
    read_model_ranges,
    series_shift,
    write_model_ranges,
)

PARAMS = ShiftParams(lung_hu_median_delta=50.0, range_margin=0.05, unseen_scanner=True,
                     unseen_kernel=True)
RANGES = {"series": 10, "scanners": ["SIEMENS SOMATOM"], "kernels": ["B31f", "B70f"],
          "slice_thickness_mm": [1.25, 3.0], "slice_spacing_mm": [1.25, 3.0],
          "pixel_spacing_mm": [0.6, 0.9], "lung_hu_median": -850.0}
INSIDE = {"manufacturer": "SIEMENS", "scanner": "SIEMENS SOMATOM", "kernel": "B31f",
          "slice_thickness_mm": 3.1, "slice_spacing_mm": 2.0, "pixel_spacing_mm": 0.7}


def test_series_inside_the_ranges_gives_nothing():
    assert series_shift(INSIDE, RANGES, PARAMS) == []


def test_series_with_unseen_kernel_and_thick_slices_gives_two_reasons():
    found = series_shift({**INSIDE, "kernel": "FC51", "slice_thickness_mm": 5.0}, RANGES, PARAMS)
    assert found == ["kernel never seen in training: FC51",
                     "slice thickness 5 mm outside the training range 1.25-3 mm"]


def test_unknown_facts_and_switched_off_checks_are_silent():
    facts = {**INSIDE, "kernel": "unknown", "slice_thickness_mm": math.nan,
             "scanner": "GE LightSpeed", "manufacturer": "GE"}
    off = ShiftParams(50.0, 0.05, unseen_scanner=False, unseen_kernel=True)
    assert series_shift(facts, RANGES, off) == []
    assert series_shift(facts, RANGES, PARAMS) == ["scanner never seen in training: GE "
                                                   "LightSpeed"]


def _fingerprint(scanners, kernels, thickness, lung_p50):
    summary = {"min": thickness[0], "median": thickness[0], "max": thickness[1]}
    return {"ingest": {"series": 4, "scanners": scanners, "kernels": kernels,
                       "slice_thickness_mm": {"summary": summary},
                       "slice_spacing_mm": {"summary": summary},
                       "pixel_spacing_mm": {"summary": {"min": 0.7, "median": 0.7, "max": 0.8}}},
            "resample": {"lung_hu": {"p50": lung_p50}}}


def test_cohort_shift_names_new_scanner_kernel_range_and_lung_hu():
    same = _fingerprint({"SIEMENS SOMATOM": 4}, {"B31f": 4}, (1.25, 2.5), -840.0)
    assert cohort_shift(same, RANGES, PARAMS) == []
    moved = _fingerprint({"SIEMENS SOMATOM": 1, "GE LightSpeed": 3}, {"STANDARD": 4},
                         (0.625, 2.5), -780.0)
    found = cohort_shift(moved, RANGES, PARAMS)
    assert found == ["scanner never seen in training: GE LightSpeed (3 series)",
                     "kernel never seen in training: STANDARD (4 series)",
                     "slice thickness 0.625-2.5 mm outside the training range 1.25-3 mm",
                     "slice spacing 0.625-2.5 mm outside the training range 1.25-3 mm",
                     "lung HU median -780 moved +70 HU from the training -850 (threshold 50)"]


def test_model_ranges_round_trip_beside_the_model(tmp_path):
    model = tmp_path / "model.onnx"
    assert read_model_ranges(model) is None
    path = write_model_ranges(model, RANGES, PARAMS)
    assert path.name == "model.fingerprint.json"
    assert read_model_ranges(model) == (RANGES, PARAMS)
    path.write_text("{}")
    with pytest.raises(ConfigError, match="model.fingerprint.json"):
        read_model_ranges(model)


def test_params_section_is_validated_by_key(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("shift:\n  lung_hu_median_delta: -1\n  range_margin: 0.05\n"
                    "  unseen_scanner: true\n  unseen_kernel: true\n")
    with pytest.raises(ConfigError, match="shift.lung_hu_median_delta"):
        load_shift_params(path)
    path.write_text("shift:\n  lung_hu_median_delta: 50\n  range_margin: 0.05\n"
                    "  unseen_scanner: true\n  unseen_kernel: true\n  typo: 1\n")
    with pytest.raises(ConfigError, match="typo"):
        load_shift_params(path)
