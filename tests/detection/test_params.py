"""candidates: params: validated, unknown keys and NaN rejected, defaults equal params.yaml."""

from pathlib import Path

import pytest
import yaml

from pipeline.detection.params import (
    DEFAULTS,
    CandidateParams,
    default_candidate_params,
    load_candidate_params,
)
from pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _section():
    return dict(yaml.safe_load(DEFAULTS.read_text())["candidates"])


def _write(tmp_path, section):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"candidates": section}))
    return path


def test_defaults_load_with_every_threshold():
    p = default_candidate_params()
    assert isinstance(p, CandidateParams) and p.radius_mm == (1.5, 15.0)
    assert p.max_candidates == 150


@pytest.mark.parametrize(("key", "value", "message"), [
    ("min_contrast_hu", float("nan"), "finite"),
    ("radius_mm", [15.0, 1.5], "low <= high"),
    ("scales", 2.5, "integer"),
    ("min_blob_ratio", 1.5, "<= 1"),
    ("subsolid_hu", 0.0, "<= solid_hu"),
    ("max_candidates", 0, ">= 1"),
])
def test_bad_values_are_rejected_naming_the_key(tmp_path, key, value, message):
    section = _section()
    section[key] = value
    with pytest.raises(ConfigError, match=f"candidates.{key}.*{message}"):
        load_candidate_params(_write(tmp_path, section))


def test_unknown_and_missing_keys_are_rejected(tmp_path):
    section = _section()
    section["min_contrst_hu"] = 1.0
    with pytest.raises(ConfigError, match="unknown parameter candidates.min_contrst_hu"):
        load_candidate_params(_write(tmp_path, section))
    section = _section()
    del section["nms_factor"]
    with pytest.raises(ConfigError, match="missing parameter candidates.nms_factor"):
        load_candidate_params(_write(tmp_path, section))


def test_absent_section_is_none_only_when_not_required(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ingest: {}\n")
    assert load_candidate_params(path, required=False) is None
    with pytest.raises(ConfigError, match="candidates:"):
        load_candidate_params(path)


def test_params_yaml_section_equals_the_packaged_defaults():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    if "candidates" not in raw:
        pytest.skip("params.yaml has no candidates: section yet (the lead wires it)")
    assert load_candidate_params(REPO / "params.yaml") == default_candidate_params()
