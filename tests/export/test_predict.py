"""predict: same probabilities as the pipeline, reasons for unscored candidates, no torch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import torch
import yaml
from export_helpers import BALL_CENTER_MM, PREPROCESS, make_checkpoint, make_net

from pipeline.data.inputs import model_inputs
from pipeline.export.metadata import build_metadata
from pipeline.export.onnx_export import EXPORTER, export_onnx
from pipeline.export.predict import (
    DETECT_COLUMNS,
    default_ingest_params,
    detect_folder,
    predict_folder,
)
from pipeline.export.predict_cli import main as predict_main
from pipeline.imaging.geometry import Geometry
from pipeline.imaging.params import ResampleParams
from pipeline.params import load_params

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("pipeline.dicom.scan")  # ingest's scan_folder: predict's first step
resample = pytest.importorskip("pipeline.imaging.resample")
patches = pytest.importorskip("pipeline.imaging.patches")

UID_A = "1.2.826.0.1.3680043.8.498.1"
UID_B = "1.2.826.0.1.3680043.8.498.2"
INSIDE = [BALL_CENTER_MM, (-6.0, -4.0, -95.0), (8.2, 10.1, -82.3)]
OUTSIDE = (200.0, 0.0, -90.0)




@pytest.fixture
def model_file(tmp_path):
    """A tiny 3D network exported with the metadata predict reads (threshold 0.5)."""
    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", PREPROCESS)
    meta = build_metadata(make_checkpoint(), x.shape[1:], 0.5, EXPORTER)
    path = tmp_path / "model.onnx"
    path.write_bytes(export_onnx(make_net(), x, 17, meta))
    return path


def _candidates(path, rows, uid=None):
    frame = pd.DataFrame(rows, columns=["coordX", "coordY", "coordZ"])
    frame["class"] = [1] + [0] * (len(rows) - 1)
    if uid is not None:
        frame.insert(0, "seriesuid", uid)
    frame.to_csv(path, index=False)
    return path


def _pipeline_probabilities(files, centers):
    """The training pipeline's path: read -> resample -> cubes -> inputs -> torch model."""
    params = ResampleParams(spacing_mm=1.0, interpolator="linear", hu_range=(-1024.0, 3071.0),
                            anti_alias=True, lung_mask=False, jobs=1)
    volume = resample.resample_image(resample.read_series_hu(files), **params.resample_args())
    cubes, inside = patches.extract_cubes(sitk.GetArrayFromImage(volume),
                                          Geometry.from_sitk(volume), np.asarray(centers), 12)
    with torch.no_grad():
        logits = make_net()(torch.from_numpy(model_inputs(cubes, "cube3d", PREPROCESS)))
    return torch.softmax(logits, 1)[:, 1].numpy(), inside


def test_predict_matches_the_pipeline_probabilities(tmp_path, dicom_series, model_file):
    files = dicom_series("scan", UID_A)
    expected, inside = _pipeline_probabilities(files, INSIDE)
    assert inside.all()
    result = predict_folder(tmp_path / "scan", pd.DataFrame(INSIDE, columns=["coordX", "coordY",
                                                                             "coordZ"]),
                            model_file)
    assert (result.table["status"] == "scored").all()
    assert np.abs(result.table["probability"].to_numpy() - expected).max() <= 1e-4
    assert result.table["prediction"].tolist() == [int(p >= 0.5) for p in expected]


def test_cli_keeps_input_columns_and_reports_out_of_volume_candidate(tmp_path, dicom_series,
                                                                     model_file, capsys):
    dicom_series("scan", UID_A)
    csv = _candidates(tmp_path / "cands.csv", [*INSIDE, OUTSIDE], uid=UID_A)
    out = tmp_path / "pred.csv"
    assert predict_main(["--dicom", str(tmp_path / "scan"), "--candidates", str(csv),
                         "--model", str(model_file), "--output", str(out)]) == 0
    table = pd.read_csv(out, dtype={"seriesuid": str})
    assert list(table.columns) == ["seriesuid", "coordX", "coordY", "coordZ", "class",
                                   "probability", "prediction", "status", "reason"]
    assert table["class"].tolist() == [1, 0, 0, 0]
    assert table["status"].tolist() == ["scored"] * 3 + ["outside_volume"]
    assert np.isnan(table.loc[3, "probability"]) and "outside" in table.loc[3, "reason"]
    assert "scored 3 of 4 candidates in 1 series" in capsys.readouterr().out


def test_unknown_seriesuid_gets_series_not_found(tmp_path, dicom_series, model_file):
    dicom_series("scan", UID_A)
    cands = pd.DataFrame({"seriesuid": [UID_A, "9.9.9"], "coordX": [0.0, 0.0],
                          "coordY": [3.0, 3.0], "coordZ": [-88.75, -88.75]})
    table = predict_folder(tmp_path / "scan", cands, model_file).table
    assert table["status"].tolist() == ["scored", "series_not_found"]
    assert "not found" in table.loc[1, "reason"]


def test_candidate_of_a_series_rejected_by_ingest_gets_the_ingest_reason(tmp_path, dicom_series,
                                                                           model_file):
    dicom_series("scan/a", UID_A)
    files_b = dicom_series("scan/b", UID_B)
    files_b[5].unlink()  # a missing slice: ingest rejects the series
    cands = pd.DataFrame({"seriesuid": [UID_A, UID_B], "coordX": [0.0, 0.0],
                          "coordY": [3.0, 3.0], "coordZ": [-88.75, -88.75]})
    table = predict_folder(tmp_path / "scan", cands, model_file).table
    assert table["status"].tolist() == ["scored", "series_rejected"]
    assert table.loc[1, "reason"].startswith("series rejected by ingest checks: ")


def test_folder_without_dicom_exits_2_with_a_message(tmp_path, model_file, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/readme.txt").write_text("not an image")
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    rc = predict_main(["--dicom", str(tmp_path / "notes"), "--candidates", str(csv),
                       "--model", str(model_file), "--output", str(tmp_path / "p.csv")])
    assert rc == 2 and not (tmp_path / "p.csv").exists()
    assert "no DICOM series found among 1 files" in capsys.readouterr().err


def test_folder_with_no_usable_series_exits_2_naming_the_reason(tmp_path, dicom_series,
                                                                model_file, capsys):
    files = dicom_series("scan", UID_A)
    files[5].unlink()
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    rc = predict_main(["--dicom", str(tmp_path / "scan"), "--candidates", str(csv),
                       "--model", str(model_file), "--output", str(tmp_path / "p.csv")])
    assert rc == 2
    assert "no usable CT series among 9 files" in capsys.readouterr().err


def test_several_series_without_seriesuid_column_exit_2_as_ambiguous(tmp_path, dicom_series,
                                                                     model_file, capsys):
    dicom_series("scan/a", UID_A)
    dicom_series("scan/b", UID_B)
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    rc = predict_main(["--dicom", str(tmp_path / "scan"), "--candidates", str(csv),
                       "--model", str(model_file), "--output", str(tmp_path / "p.csv")])
    assert rc == 2
    assert "holds 2 usable series; add a seriesuid column" in capsys.readouterr().err


def test_predict_path_never_imports_torch(tmp_path, dicom_series, model_file):
    dicom_series("scan", UID_A)
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    out = tmp_path / "p.csv"
    code = ("import sys; from pipeline.export.predict_cli import main; "
            f"rc = main(['--dicom', {str(tmp_path / 'scan')!r}, '--candidates', {str(csv)!r}, "
            f"'--model', {str(model_file)!r}, '--output', {str(out)!r}]); "
            "import json; print(json.dumps({'rc': rc, 'torch': sorted(m for m in sys.modules "
            "if m == 'torch' or m.startswith('torch.'))}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"rc": 0, "torch": []}
    assert out.exists()


def test_default_ingest_checks_match_params_yaml():
    ingest = load_params(REPO / "params.yaml").ingest
    assert default_ingest_params() == type(ingest)(**{**vars(ingest), "jobs": 1})


def test_predict_cli_help_works_as_a_script():
    proc = subprocess.run([sys.executable, str(REPO / "stages/predict.py"), "--help"],
                          capture_output=True, text=True, check=True)
    assert "--candidates" in proc.stdout and "no PyTorch" in proc.stdout


def test_params_file_is_accepted_for_ingest_checks(tmp_path, dicom_series, model_file):
    dicom_series("scan", UID_A)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    assert predict_main(["--dicom", str(tmp_path / "scan"), "--candidates", str(csv),
                         "--model", str(model_file), "--output", str(tmp_path / "p.csv"),
                         "--params", str(tmp_path / "params.yaml")]) == 0


# --- predict without --candidates: the generator finds them -------------------------------------

CHEST_UID = "1.2.826.0.1.3680043.8.498.10"
CHEST_NODULE_MM = (-30.0, 0.0, 0.0)
CHEST_ORIGIN, CHEST_SPACING, CHEST_SHAPE = (-63.0, -47.0, -20.0), (2.0, 2.0, 2.0), (20, 48, 64)


def write_chest(folder: Path, series_uid: str = CHEST_UID, split: bool = False) -> list[Path]:
    """A small chest CT (body, two lungs, an 8 mm solid nodule at CHEST_NODULE_MM) as DICOM.

    With ``split``, odd slices go to a second folder, as a study exported in two parts.
    """
    from export_helpers import IDENTITY

    from pipeline.synth.dicom_writer import SeriesUIDs, write_ct_series

    geo = Geometry(origin=CHEST_ORIGIN, spacing=CHEST_SPACING)
    nz, ny, nx = CHEST_SHAPE
    idx = np.indices(CHEST_SHAPE).reshape(3, -1).T[:, ::-1]
    w = geo.index_to_world(idx).reshape(nz, ny, nx, 3)
    x, y = w[..., 0], w[..., 1]
    hu = np.full(CHEST_SHAPE, -1000.0)
    hu[(x / 60) ** 2 + (y / 44) ** 2 < 1] = 40.0
    for cx in (-30.0, 30.0):
        hu[((x - cx) / 24) ** 2 + (y / 32) ** 2 < 1] = -850.0
    hu[np.linalg.norm(w - np.asarray(CHEST_NODULE_MM), axis=-1) < 4.0] = 40.0
    uids = SeriesUIDs(study_uid=f"{series_uid}.1", series_uid=series_uid,
                      frame_of_reference_uid=f"{series_uid}.2",
                      sop_instance_uids=tuple(f"{series_uid}.3.{k}" for k in range(nz)))
    paths = [folder / ("part2" if split and k % 2 else "part1") / f"IM{k:04d}" for k in range(nz)]
    return write_ct_series(hu, geo, paths, IDENTITY, uids)


@pytest.fixture
def open_model(tmp_path):
    """The tiny network with threshold 0: every scored candidate is a finding."""
    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", PREPROCESS)
    meta = build_metadata(make_checkpoint(), x.shape[1:], 0.0, EXPORTER)
    path = tmp_path / "open.onnx"
    path.write_bytes(export_onnx(make_net(), x, 17, meta))
    return path


def test_without_candidates_every_generated_candidate_gets_a_scored_row(tmp_path, model_file):
    write_chest(tmp_path / "scan")
    out = tmp_path / "p.csv"
    assert predict_main(["--dicom", str(tmp_path / "scan"), "--model", str(model_file),
                         "--output", str(out)]) == 0
    table = pd.read_csv(out, dtype={"seriesuid": str})
    assert list(table.columns) == DETECT_COLUMNS
    assert (table["seriesuid"] == CHEST_UID).all() and (table["status"] == "scored").all()
    d = np.linalg.norm(table[["coordX", "coordY", "coordZ"]].to_numpy() - CHEST_NODULE_MM, axis=1)
    assert d.min() < 2.0  # the nodule is among the candidates
    assert table["probability"].between(0, 1).all()
    assert ((table["probability"] >= 0.5).astype(int) == table["prediction"]).all()


def test_study_split_across_folders_is_one_series(tmp_path, model_file):
    write_chest(tmp_path / "study", split=True)
    result = detect_folder(tmp_path / "study", model_file)
    assert len(result.series) == 1 and result.series[0].seriesuid == CHEST_UID
    assert len(result.series[0].files) == CHEST_SHAPE[0]


def test_series_rejected_by_ingest_gets_a_row_with_the_reason(tmp_path, dicom_series,
                                                             model_file):
    write_chest(tmp_path / "scan/a")
    files = dicom_series("scan/b", UID_B)
    files[5].unlink()
    table = detect_folder(tmp_path / "scan", model_file).table
    rejected = table[table["seriesuid"] == UID_B]
    assert rejected["status"].tolist() == ["series_rejected"]
    assert rejected["reason"].iloc[0].startswith("series rejected by ingest checks: ")
    assert (table.loc[table["seriesuid"] == CHEST_UID, "status"] == "scored").all()


def test_detect_and_report_never_import_torch(tmp_path, open_model):
    write_chest(tmp_path / "scan")
    out, report = tmp_path / "p.csv", tmp_path / "report"
    code = ("import sys; from pipeline.export.predict_cli import main; "
            f"rc = main(['--dicom', {str(tmp_path / 'scan')!r}, '--model', {str(open_model)!r}, "
            f"'--output', {str(out)!r}, '--report', {str(report)!r}]); "
            "import json; print(json.dumps({'rc': rc, 'torch': sorted(m for m in sys.modules "
            "if m == 'torch' or m.startswith('torch.'))}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "torch": []}
    table = pd.read_csv(out)
    n = int((table["prediction"] == 1).sum())
    assert n >= 1
    assert (report / "index.html").is_file() and (report / "sr.dcm").is_file()
    assert len(list(report.glob("finding_*.png"))) == n
    assert "probability" in (report / "index.html").read_text()


def test_report_needs_generated_candidates(tmp_path, dicom_series, model_file, capsys):
    dicom_series("scan", UID_A)
    csv = _candidates(tmp_path / "c.csv", INSIDE)
    rc = predict_main(["--dicom", str(tmp_path / "scan"), "--candidates", str(csv),
                       "--model", str(model_file), "--output", str(tmp_path / "p.csv"),
                       "--report", str(tmp_path / "r")])
    assert rc == 2 and "--report" in capsys.readouterr().err


def test_series_without_findings_gets_a_no_nodule_sr_and_the_page_says_so(tmp_path):
    from pipeline.report.sr import read_findings, reports_no_nodule
    from pipeline.report.writer import write_report

    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", PREPROCESS)
    model = tmp_path / "closed.onnx"
    model.write_bytes(export_onnx(make_net(), x, 17,
                                  build_metadata(make_checkpoint(), x.shape[1:], 1.0, EXPORTER)))
    write_chest(tmp_path / "scan")
    result = detect_folder(tmp_path / "scan", model)
    files = write_report(result.series, result.threshold, tmp_path / "r")
    assert [p.name for p in files.srs] == ["sr.dcm"] and files.pngs == []
    sr = pydicom.dcmread(files.srs[0])
    assert reports_no_nodule(sr) and read_findings(sr) == []
    assert "No finding at or above the operating threshold" in files.index.read_text()


def test_a_non_numeric_candidate_coordinate_is_one_line_naming_row_and_column(tmp_path, capsys):
    from pipeline.export.predict_cli import main

    csv = tmp_path / "c.csv"
    csv.write_text("seriesuid,coordX,coordY,coordZ\n1.2.3,1.0,abc,3.0\n")
    code = main(["--dicom", str(tmp_path), "--candidates", str(csv), "--output",
                 str(tmp_path / "p.csv"), "--model", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "row 1" in err[0] and "coordY" in err[0]
