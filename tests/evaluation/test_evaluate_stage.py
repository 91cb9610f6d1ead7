"""The cross-validation stages end to end on a toy patches folder: folds -> train per fold (model
and baseline) -> evaluate on the out-of-fold predictions -> export of the fold ensemble."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml

from pipeline.data.toy_patches import write_toy_patches

ROOT = Path(__file__).resolve().parents[2]
FOLDS = 3


def _stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, argv):
    mod = _stage(name)
    return mod.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cv")
    patches = write_toy_patches(tmp / "patches", n_candidates=96, cube_size=16, seed=2)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["cv"].update(folds=FOLDS, fold_ids=list(range(FOLDS)), inner_val=0.25)
    params["train"].update(model="seed2d", epochs=2, batch_size=16, slice_px=8)
    params["baseline"] = dict(params["train"])
    params["evaluate"].update(bootstrap=20, montage_per_group=2)
    params["export"].update(large_batch=8, parity_samples=16)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    p = ["--params", tmp / "params.yaml"]
    assert _run("folds", ["--patches", patches, "--output", tmp / "folds.csv",
                          "--metrics", tmp / "folds.json", *p]) == 0
    for role in ("model", "baseline"):
        for fold in range(FOLDS):
            assert _run("train", ["--role", role, "--fold", fold, "--patches", patches,
                                  "--folds", tmp / "folds.csv",
                                  "--output", tmp / "cv" / role / f"fold{fold}",
                                  "--live", tmp / "live" / role / f"fold{fold}",
                                  "--timing", tmp / "timing" / f"{role}{fold}.json", *p]) == 0
    out = {"predictions": tmp / "ev" / "predictions.csv", "metrics": tmp / "evaluate.json",
           "details": tmp / "evaluation.json", "plots": tmp / "plots",
           "montage": tmp / "montage.png", "model-card": tmp / "card" / "model_card.md",
           "figures": tmp / "card" / "figures"}
    argv = ["--folds-dir", tmp / "cv", "--patches", patches, "--train-curves", tmp / "live",
            *[a for k, v in out.items() for a in (f"--{k}", v)], *p]
    assert _run("evaluate", argv) == 0
    assert _run("export", ["--folds-dir", tmp / "cv" / "model", "--patches", patches,
                           "--output", tmp / "model.onnx", "--metrics", tmp / "export.json",
                           "--latency", tmp / "latency.json", *p]) == 0
    return tmp, out


def test_every_patient_is_scored_once_by_the_fold_that_did_not_train_on_it(run):
    tmp, _ = run
    folds = pd.read_csv(tmp / "folds.csv", dtype={"patient_id": str})
    oof = pd.concat([pd.read_csv(tmp / "cv" / "model" / f"fold{f}" / "oof.csv",
                                 dtype={"patient_id": str}) for f in range(FOLDS)])
    index = pd.read_csv(tmp / "patches" / "index.csv", dtype={"patient_id": str})
    assert len(oof) == len(index) and not oof.duplicated(["series_uid", "candidate_id"]).any()
    fold_of = dict(zip(folds["patient_id"], folds["fold"], strict=True))
    assert (oof["patient_id"].map(fold_of) == oof["fold"]).all()
    assert (oof["prediction"] == (oof["probability"] >= oof["threshold"])).all()


def test_fold_summary_records_threshold_from_inner_validation_without_timings(run):
    tmp, _ = run
    s = json.loads((tmp / "cv" / "model" / "fold0" / "summary.json").read_text())
    assert s["fold"] == 0 and 0 <= s["threshold"] <= 1 and s["threshold_method"] == "youden"
    assert "train_seconds" not in json.dumps(s)
    assert s["numerics"]["onednn_max_cpu_isa"] == "AVX2"
    assert json.loads((tmp / "timing" / "model0.json").read_text())["train_seconds"] > 0


def test_evaluate_metrics_follow_the_contract(run):
    _, out = run
    m = json.loads(out["metrics"].read_text())
    assert m["protocol"] == {"kind": "kfold", "folds": FOLDS, "unit": "patient"}
    assert m["oof"]["patients"] == 24
    for key in ("auc", "cpm"):
        assert set(m["oof"][key]) == {"value", "ci_low", "ci_high"}
        assert m["oof"][key]["ci_low"] <= m["oof"][key]["value"] <= m["oof"][key]["ci_high"]
    assert m["baseline"]["model"] == "seed2d"
    for key in ("delta_auc", "delta_cpm"):
        assert set(m["baseline"][key]) == {"value", "ci_low", "ci_high"}
    d = json.loads(out["details"].read_text())
    assert [r["fold"] for r in d["per_fold"]["model"]] == list(range(FOLDS))
    assert d["bootstrap"]["paired"] is True


def test_same_models_give_a_zero_paired_difference(run):
    """Model and baseline share a recipe here (seed2d, same seed): the paired delta is exactly 0
    in every bootstrap replicate, which an unpaired bootstrap would not give."""
    _, out = run
    m = json.loads(out["metrics"].read_text())
    assert m["baseline"]["delta_auc"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_evaluate_writes_plots_figures_montage_and_card(run):
    _, out = run
    for name in ("roc.csv", "roc_baseline.csv", "froc.csv", "froc_baseline.csv", "pr.csv",
                 "confusion.csv"):
        assert (out["plots"] / name).stat().st_size > 0
    for name in ("roc.png", "froc.png", "confusion.png", "training_curves.png"):
        assert (out["figures"] / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = out["model-card"].read_text()
    assert "out-of-fold" in card and "$" not in card.replace("$$", "")
    assert out["montage"].read_bytes()[:4] == b"\x89PNG"


def test_export_is_one_graph_of_the_fold_ensemble_with_median_threshold(run):
    tmp, out = run
    m = json.loads((tmp / "export.json").read_text())
    assert m["ensemble"]["members"] == FOLDS
    assert m["ensemble"]["threshold"] == pytest.approx(np.median(m["ensemble"]["fold_thresholds"]))
    meta = {p.key: p.value for p in onnx.load(tmp / "model.onnx").metadata_props}
    assert float(meta["threshold"]) == pytest.approx(m["ensemble"]["threshold"], abs=1e-6)
    ev = json.loads(out["metrics"].read_text())
    assert ev["deployed_threshold"] == pytest.approx(m["ensemble"]["threshold"], abs=1e-6)


def test_train_rejects_a_fold_outside_cv_fold_ids_with_one_line(run, capsys):
    tmp, _ = run
    code = _run("train", ["--fold", 7, "--patches", tmp / "patches", "--folds", tmp / "folds.csv",
                          "--output", tmp / "bad", "--params", tmp / "params.yaml"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cv.fold_ids" in err[0]
