"""cv.folds_from: subset: the fold of a scan is its LUNA16 subset number (pipeline.data.folds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.data.folds import FOLD_COLUMNS, folds_from_subsets
from pipeline.errors import PipelineError

REPO = Path(__file__).resolve().parents[2]
NODULES = {"a": 1, "b": 0, "c": 2, "d": 0}
CANDIDATES = {"a": 5, "b": 3, "c": 7, "d": 2}


def test_fold_is_the_subset_number():
    table = folds_from_subsets({"a": ["0"], "b": ["2"], "c": ["1"], "d": ["2", "2"]}, NODULES,
                               CANDIDATES, folds=3)
    assert list(table.columns) == FOLD_COLUMNS
    assert table[["patient_id", "fold"]].values.tolist() == [["a", 0], ["b", 2], ["c", 1],
                                                            ["d", 2]]
    assert table["positives"].tolist() == [1, 0, 2, 0]


def test_a_series_without_subset_is_an_error_naming_the_patient():
    with pytest.raises(PipelineError, match="patient b: a series has no subset"):
        folds_from_subsets({"a": ["0"], "b": [""], "c": ["1"], "d": ["2"]}, NODULES, CANDIDATES,
                           folds=3)


def test_subsets_that_are_not_the_folds_are_an_error_listing_them():
    with pytest.raises(PipelineError, match=r"subsets \[0, 1, 2\] do not match cv.folds = 10"):
        folds_from_subsets({"a": ["0"], "b": ["2"], "c": ["1"], "d": ["2"]}, NODULES,
                           CANDIDATES, folds=10)


def test_a_patient_in_two_subsets_is_an_error():
    with pytest.raises(PipelineError, match=r"patient d: series in subsets \[1, 2\]"):
        folds_from_subsets({"a": ["0"], "b": ["2"], "c": ["1"], "d": ["1", "2"]}, NODULES,
                           CANDIDATES, folds=3)


def _stage():
    spec = importlib.util.spec_from_file_location("folds_subsets_stage",
                                                  REPO / "stages" / "folds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(tmp_path: Path, subsets: list[str], folds: int) -> list[str]:
    uids = [f"1.2.{k}" for k in range(len(subsets))]
    (tmp_path / "patches").mkdir()
    index = pd.DataFrame({"row": range(2 * len(uids)), "series_uid": uids * 2,
                          "patient_id": uids * 2, "label": [1] * len(uids) + [0] * len(uids)})
    index.to_csv(tmp_path / "patches" / "index.csv", index=False)
    pd.DataFrame({"series_uid": uids, "subset": subsets}).to_csv(tmp_path / "series.csv",
                                                                index=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cv"].update({"folds": folds, "fold_ids": list(range(folds)), "folds_from": "subset"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return ["--patches", str(tmp_path / "patches"), "--series-table", str(tmp_path / "series.csv"),
            "--output", str(tmp_path / "folds.csv"), "--metrics", str(tmp_path / "m.json"),
            "--params", str(tmp_path / "params.yaml")]


def test_stage_takes_the_folds_from_the_series_table(tmp_path):
    assert _stage().main(_inputs(tmp_path, ["1", "0", "1", "2"], folds=3)) == 0
    folds = pd.read_csv(tmp_path / "folds.csv", dtype={"patient_id": str})
    assert folds[["patient_id", "fold"]].values.tolist() == [["1.2.0", 1], ["1.2.1", 0],
                                                            ["1.2.2", 1], ["1.2.3", 2]]


def test_stage_on_a_dicom_series_table_exits_2_naming_it(tmp_path, capsys):
    argv = _inputs(tmp_path, ["0", "1", "2"], folds=3)
    pd.DataFrame({"series_uid": ["1.2.0"], "files": ["a.dcm"]}).to_csv(tmp_path / "series.csv",
                                                                      index=False)
    assert _stage().main(argv) == 2
    err = capsys.readouterr().err
    assert "series.csv: no subset column" in err and len(err.strip().splitlines()) == 1
