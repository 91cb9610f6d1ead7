import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.data.toy_patches import write_toy_patches

ROOT = Path(__file__).resolve().parents[2]


def _stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage")
    patches = write_toy_patches(tmp / "patches", {"train": 48, "val": 24, "test": 24},
                                cube_size=16, slice_px=8, seed=2)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(model="seed2d", epochs=2, batch_size=16)
    params["evaluate"].update(bootstrap=20, montage_per_group=2)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp / "data.json").write_text(json.dumps({"patients": 18}))
    common = ["--patches", str(patches), "--model", str(tmp / "model.pt"),
              "--params", str(tmp / "params.yaml")]
    assert _stage("train").main(common + ["--metrics", str(tmp / "train.json"),
                                          "--live", str(tmp / "live"),
                                          "--timing", str(tmp / "timing.json")]) == 0
    out = {"predictions": tmp / "ev" / "predictions.csv", "metrics": tmp / "evaluate.json",
           "plots": tmp / "plots", "montage": tmp / "montage.png",
           "model-card": tmp / "model_card.md", "data-metrics": tmp / "data.json"}
    argv = common + [a for k, v in out.items() for a in (f"--{k}", str(v))]
    assert _stage("evaluate").main(argv) == 0
    return tmp, out


def test_train_stage_writes_checkpoint_metrics_and_curves(run):
    tmp, _ = run
    metrics = json.loads((tmp / "train.json").read_text())
    assert metrics["model"] == "seed2d" and metrics["parameters"] > 0
    assert (tmp / "live" / "plots" / "metrics" / "val" / "auc.tsv").exists()
    assert (tmp / "model.pt").stat().st_size > 0


def test_evaluate_writes_metrics_with_cis_threshold_and_cpm(run):
    _, out = run
    m = json.loads(out["metrics"].read_text())
    for name in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1"):
        assert set(m["test"][name]) == {"value", "ci_low", "ci_high"}
    assert m["threshold"]["chosen_on"] == "val" and m["threshold"]["method"] == "youden"
    assert 0 <= m["froc"]["cpm"] <= 1
    assert set(m["froc"]["sensitivity_at"]) == {"0.125", "0.25", "0.5", "1", "2", "4", "8"}


def test_evaluate_writes_predictions_for_val_and_test(run):
    _, out = run
    preds = pd.read_csv(out["predictions"])
    assert list(preds.columns) == ["split", "series_uid", "patient_id", "candidate_id", "coordX",
                                   "coordY", "coordZ", "label", "probability"]
    assert sorted(preds["split"].unique()) == ["test", "val"] and len(preds) == 48


def test_evaluate_writes_plots_montage_and_model_card(run):
    _, out = run
    assert {p.name for p in out["plots"].iterdir()} == {"roc.csv", "pr.csv", "confusion.csv",
                                                         "froc.csv"}
    assert list(pd.read_csv(out["plots"] / "confusion.csv").columns) == ["actual", "predicted"]
    assert out["montage"].read_bytes()[:4] == b"\x89PNG"
    card = out["model-card"].read_text()
    assert "Intended use" in card and "95% CI" in card and "Known limits" in card
    assert '"patients": 18' in card
