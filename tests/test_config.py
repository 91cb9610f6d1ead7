"""params.yaml loading: typed, validated, errors name the key."""

from pathlib import Path

import pytest
import yaml

from pipeline.config import load_section
from pipeline.errors import ConfigError
from pipeline.export.params import ExportParams
from pipeline.imaging.params import ResampleParams
from pipeline.params import load_params
from pipeline.training.params import TrainParams

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_load_with_types():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params.resample.spacing_mm, float)
    assert isinstance(params.train.hu_window, tuple) and len(params.train.hu_window) == 2
    assert params.cv.fold_ids == tuple(range(params.cv.folds))
    assert params.baseline.model == "seed2d" and params.baseline.section == "baseline"


def test_unknown_key_is_rejected_with_its_name(tmp_path):
    path = _write(tmp_path, lambda r: r["train"].update({"learning_rate": 0.1}))
    with pytest.raises(ConfigError, match=r"unknown parameter train\.learning_rate"):
        load_params(path)


def test_missing_key_is_rejected_with_its_name(tmp_path):
    path = _write(tmp_path, lambda r: r["resample"].pop("spacing_mm"))
    with pytest.raises(ConfigError, match=r"missing parameter resample\.spacing_mm"):
        load_params(path)


def test_out_of_range_value_names_key_and_value(tmp_path):
    path = _write(tmp_path, lambda r: r["resample"].update({"spacing_mm": -1}))
    with pytest.raises(ConfigError, match=r"resample\.spacing_mm must be > 0, got -1"):
        load_params(path)


def test_wrong_type_is_rejected(tmp_path):
    path = _write(tmp_path, lambda r: r["train"].update({"epochs": "ten"}))
    with pytest.raises(ConfigError, match=r"train\.epochs must be an integer"):
        load_params(path)


def test_literal_choice_is_enforced(tmp_path):
    path = _write(tmp_path, lambda r: r["resample"].update({"interpolator": "cubic"}))
    with pytest.raises(ConfigError, match=r"resample\.interpolator must be one of"):
        load_params(path)


def test_fold_ids_must_list_every_fold(tmp_path):
    path = _write(tmp_path, lambda r: r["cv"].update({"folds": 4}))
    with pytest.raises(ConfigError, match=r"cv\.fold_ids must list 0\.\.3"):
        load_params(path)


def test_nan_and_infinity_are_rejected_for_floats(tmp_path):
    for bad in (float("nan"), float("inf")):
        path = _write(tmp_path, lambda r, b=bad: r["train"].update({"lr": b}))
        with pytest.raises(ConfigError, match=r"train\.lr must be a finite number"):
            load_params(path)


def test_baseline_errors_name_the_baseline_section(tmp_path):
    path = _write(tmp_path, lambda r: r["baseline"].update({"epochs": 0}))
    with pytest.raises(ConfigError, match=r"baseline\.epochs must be >= 1"):
        load_section(path, "baseline", TrainParams)


def test_a_typo_in_one_section_does_not_stop_another_stage(tmp_path):
    path = _write(tmp_path, lambda r: r["export"].update({"opsett": 17}))
    assert load_section(path, "resample", ResampleParams).spacing_mm > 0
    with pytest.raises(ConfigError, match=r"unknown parameter export\.opsett"):
        load_section(path, "export", ExportParams)


def test_dask_executor_needs_an_address(tmp_path):
    path = _write(tmp_path, lambda r: r["executor"].update({"kind": "dask", "address": None}))
    params = load_params(path)
    with pytest.raises(ConfigError, match="address is required"):
        params.executor.with_jobs(2)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
