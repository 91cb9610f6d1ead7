"""predict's shift check: one warning and a `shift` entry per series outside the training ranges
shipped beside the model; silent inside them."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from export_helpers import BALL_CENTER_MM, PREPROCESS, make_checkpoint, make_net

from pipeline.data.inputs import model_inputs
from pipeline.dicom.scan import scan_folder
from pipeline.export.metadata import build_metadata
from pipeline.export.onnx_export import EXPORTER, export_onnx
from pipeline.export.predict import default_ingest_params, detect_folder, predict_folder
from pipeline.export.predict_cli import main as predict_main
from pipeline.fingerprint.acquisition import series_facts
from pipeline.fingerprint.shift import ShiftParams, write_model_ranges
from pipeline.parallel import ExecutorParams

UID = "1.2.826.0.1.3680043.8.498.1"
PARAMS = ShiftParams(50.0, 0.05, True, True)


@pytest.fixture
def model_file(tmp_path):
    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", PREPROCESS)
    path = tmp_path / "model.onnx"
    path.write_bytes(export_onnx(make_net(), x, 17,
                                 build_metadata(make_checkpoint(), x.shape[1:], 0.5, EXPORTER)))
    return path


def _ranges_of(folder):
    scan = scan_folder(folder, default_ingest_params(), ExecutorParams(jobs=1))
    f = series_facts(scan.series.iloc[0].to_dict(), folder)
    return {"series": 1, "scanners": [f["scanner"]], "kernels": [f["kernel"]],
            "slice_thickness_mm": None, "slice_spacing_mm": [f["slice_spacing_mm"]] * 2,
            "pixel_spacing_mm": [f["pixel_spacing_mm"]] * 2, "lung_hu_median": -850.0}


def _candidates():
    return pd.DataFrame([BALL_CENTER_MM], columns=["coordX", "coordY", "coordZ"])


def test_series_inside_the_training_ranges_is_silent(tmp_path, dicom_series, model_file, caplog):
    dicom_series("scan", UID)
    write_model_ranges(model_file, _ranges_of(tmp_path / "scan"), PARAMS)
    with caplog.at_level(logging.WARNING):
        table = predict_folder(tmp_path / "scan", _candidates(), model_file).table
    assert table["shift"].tolist() == [""]
    assert not [r for r in caplog.records if "outside the training data" in r.message]


def test_series_outside_warns_once_and_records_why(tmp_path, dicom_series, model_file, caplog,
                                                   capsys):
    dicom_series("scan", UID)
    ranges = _ranges_of(tmp_path / "scan")
    ranges["kernels"] = ["B70f"]
    ranges["pixel_spacing_mm"] = [0.5, 0.6]
    write_model_ranges(model_file, ranges, PARAMS)
    with caplog.at_level(logging.WARNING):
        table = predict_folder(tmp_path / "scan", _candidates(), model_file).table
        found = detect_folder(tmp_path / "scan", model_file)
    warned = [r.message for r in caplog.records if "outside the training data" in r.message]
    assert len(warned) == 2 and UID in warned[0]  # one line per series per run
    assert "kernel never seen in training" in table.loc[0, "shift"]
    assert "pixel spacing" in table.loc[0, "shift"]
    assert table.loc[0, "status"] == "scored"  # still scored: the shift is a warning
    assert (found.table["shift"] == table.loc[0, "shift"]).all()
    out = tmp_path / "pred.csv"
    assert predict_main(["--dicom", str(tmp_path / "scan"), "--model", str(model_file),
                         "--output", str(out)]) == 0
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns)[-1] == "shift"
    assert written["shift"].str.contains("kernel never seen").all()


def test_model_without_ranges_keeps_the_old_columns(tmp_path, dicom_series, model_file):
    dicom_series("scan", UID)
    table = predict_folder(tmp_path / "scan", _candidates(), model_file).table
    assert "shift" not in table.columns
