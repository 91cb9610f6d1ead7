"""Export metadata: the threshold read from evaluate's metrics, and clear errors on bad input."""

import pytest
from export_helpers import make_checkpoint

from pipeline.errors import ConfigError
from pipeline.export.metadata import build_metadata, find_threshold, parse_metadata, read_threshold


def test_threshold_is_found_at_top_level():
    assert find_threshold({"auc": 0.9, "threshold": 0.42}) == 0.42


def test_threshold_is_found_in_a_nested_section():
    assert find_threshold({"test": {"auc": 0.9}, "operating_point": {"threshold": 0.3}}) == 0.3


def test_missing_threshold_raises_naming_the_file(tmp_path):
    path = tmp_path / "evaluate.json"
    path.write_text('{"auc": 0.9}')
    with pytest.raises(ConfigError, match=r"evaluate.json: expected a numeric 'threshold'"):
        read_threshold(path)


def test_metadata_of_an_unrelated_onnx_model_is_rejected_with_the_missing_keys():
    with pytest.raises(ConfigError, match=r"other.onnx: expected ONNX metadata keys .*missing"):
        parse_metadata({"producer": "x"}, "other.onnx")


def test_checkpoint_without_preprocess_keys_is_rejected():
    ckpt = make_checkpoint()
    del ckpt["preprocess"]["cube_size"]
    with pytest.raises(ConfigError, match="missing \\['cube_size'\\]"):
        build_metadata(ckpt, (1, 12, 12, 12), 0.5, "test")


def test_metadata_round_trips_through_parse():
    meta = parse_metadata(build_metadata(make_checkpoint(), (1, 12, 12, 12), None, "test"))
    assert meta.threshold is None and meta.class_names == ("non-nodule", "nodule")
    assert meta.preprocess["cube_size"] == 12
