"""The default processing step: predict without candidates, in a child process or in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from node_helpers import synthetic_series, tiny_model

from pipeline.node.process import PredictProcessor, ProcessingError
from pipeline.node.sr import count_findings, finding_summary, referenced_series


@pytest.fixture(scope="module")
def scan_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    root = tmp_path_factory.mktemp("scan")
    series = synthetic_series(root)
    folder = root / "series"
    folder.mkdir()
    for f in series.files:
        shutil.copyfile(f, folder / f"{f.name}.dcm")
    return folder, series.series_uid, tiny_model(root / "model.onnx")


def test_predict_processor_returns_the_sr_of_the_series_and_its_findings(tmp_path,
                                                                        scan_and_model):
    folder, series_uid, model = scan_and_model
    result = PredictProcessor(model)(folder, tmp_path / "out")
    [sr_path] = result.sr_paths
    sr = pydicom.dcmread(sr_path)
    assert sr.Modality == "SR" and referenced_series(sr) == {series_uid}
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    positives = int((table["prediction"] == 1).sum())
    assert result.findings == count_findings(sr_path) == positives
    assert result.findings > 0 and result.sc_paths == ()


def test_in_process_and_child_process_state_the_same_findings(tmp_path, scan_and_model):
    folder, _, model = scan_and_model
    child = PredictProcessor(model, isolate=True)(folder, tmp_path / "child")
    inproc = PredictProcessor(model, isolate=False)(folder, tmp_path / "inproc")
    assert finding_summary(pydicom.dcmread(child.sr_paths[0])) == finding_summary(
        pydicom.dcmread(inproc.sr_paths[0]))


def test_secondary_capture_of_each_finding_picture(tmp_path, scan_and_model):
    folder, _, model = scan_and_model
    result = PredictProcessor(model, secondary_capture=True)(folder, tmp_path / "out")
    pictures = sorted((tmp_path / "out" / "report").glob("*.png"))
    assert len(result.sc_paths) == len(pictures) == result.findings
    sc = pydicom.dcmread(result.sc_paths[0])
    assert sc.StudyInstanceUID == pydicom.dcmread(result.sr_paths[0]).StudyInstanceUID


def test_unusable_series_fails_with_predicts_reason(tmp_path, scan_and_model):
    _, _, model = scan_and_model
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(ProcessingError, match="predict exited with status 2: .*no DICOM series"):
        PredictProcessor(model)(empty, tmp_path / "out")


def test_a_series_without_findings_is_done_with_nothing_to_send(tmp_path):
    from pipeline.node.process import _explain_no_sr

    csv = tmp_path / "predictions.csv"
    csv.write_text("seriesuid,probability,prediction,status,reason\n"
                   "1.2.3,0.01,0,scored,\n1.2.3,,,no_candidates,generator found nothing\n")
    _explain_no_sr(csv)  # no error: the node records 0 findings and sends nothing


def test_a_rejected_series_without_sr_fails_with_its_reason(tmp_path):
    import pytest

    from pipeline.node.process import ProcessingError, _explain_no_sr

    csv = tmp_path / "predictions.csv"
    csv.write_text("seriesuid,probability,prediction,status,reason\n"
                   "1.2.3,,,series_rejected,missing slice\n")
    with pytest.raises(ProcessingError, match="series_rejected: missing slice"):
        _explain_no_sr(csv)
