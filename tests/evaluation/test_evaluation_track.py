"""The generated track's figures: generator alone and full-system FROC with LUNA16's missed-nodule
accounting, and the evaluate stage carrying them when the patches folder has generator.json."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.data.generated import write_generator_record
from pipeline.data.toy_patches import write_toy_patches
from pipeline.evaluation.froc import froc
from pipeline.evaluation.track import generated_track

ROOT = Path(__file__).resolve().parents[2]
FOLDS = 2


def test_a_nodule_without_any_candidate_caps_the_full_system_sensitivity():
    # scan A: nodule 1 hit at 0.9, a false positive at 0.5; scan B: nodule 2, no candidate at all.
    # The kit: GT [1, 1, 0], scores [0.9, -1e9, 0.5], nodule 2 excluded from the ROC:
    # fpr [0, 0, 1], tpr [0, 1, 1] -> fps = fpr * 1 FP / 2 scans, sens = tpr * 1 / 2 nodules.
    ann = pd.DataFrame({"seriesuid": ["A", "B"], "coordX": [0.0, 0.0], "coordY": [0.0, 0.0],
                        "coordZ": [0.0, 0.0], "diameter_mm": [10.0, 10.0]})
    cands = pd.DataFrame({"seriesuid": ["A", "A"], "coordX": [1.0, 50.0], "coordY": [0.0, 0.0],
                          "coordZ": [0.0, 0.0], "probability": [0.9, 0.5]})
    fr = froc(cands, ann, 2)
    assert fr.curve["sensitivity"].tolist() == [0.0, 0.5, 0.5]
    assert fr.curve["fps_per_scan"].tolist() == [0.0, 0.0, 0.5]
    out = generated_track({"sensitivity": 0.5, "candidates_per_scan": 1.0, "nodules": 2,
                           "nodules_found": 1, "other": 1}, fr, {"value": fr.cpm})
    assert out["full_system"]["cpm"]["value"] == pytest.approx(0.5)
    assert out["full_system"]["nodules"] == 2 and out["full_system"]["nodules_detected"] == 1
    assert out["full_system"]["max_sensitivity"] == 0.5
    assert out["generator"] == {"sensitivity": 0.5, "candidates_per_scan": 1.0, "nodules": 2,
                                "nodules_found": 1}


def _stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}_track", ROOT / "stages" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluate(tmp):
    patches = write_toy_patches(tmp / "patches", n_candidates=48, cube_size=16, seed=3)
    ann = pd.read_csv(patches / "annotations.csv", dtype={"seriesuid": str})
    missed = ann.iloc[:1].assign(coordX=-500.0, annotation_id="N9999")  # no candidate near it
    pd.concat([ann, missed]).to_csv(patches / "annotations.csv", index=False)
    write_generator_record(patches, {"source": "generated", "scans": 12, "nodules": len(ann) + 1,
                                     "nodules_found": len(ann), "sensitivity": 0.9,
                                     "candidates": 48, "candidates_per_scan": 4.0,
                                     "candidates_per_scan_max": 6})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["cv"].update(folds=FOLDS, fold_ids=list(range(FOLDS)), inner_val=0.25)
    params["train"].update(model="seed2d", epochs=1, batch_size=16, slice_px=8)
    params["baseline"] = dict(params["train"])
    params["evaluate"].update(bootstrap=5, montage_per_group=1)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    p = ["--params", str(tmp / "params.yaml")]
    assert _stage("folds").main(["--patches", str(patches), "--output", str(tmp / "folds.csv"),
                                 "--metrics", str(tmp / "folds.json"), *p]) == 0
    for role in ("model", "baseline"):
        for fold in range(FOLDS):
            assert _stage("train").main([
                "--role", role, "--fold", str(fold), "--patches", str(patches),
                "--folds", str(tmp / "folds.csv"), "--output", str(tmp / "cv" / role /
                                                                  f"fold{fold}"),
                "--live", str(tmp / "live" / role / f"fold{fold}"), *p]) == 0
    argv = ["--folds-dir", tmp / "cv", "--patches", patches, "--train-curves", tmp / "live",
            "--predictions", tmp / "predictions.csv", "--metrics", tmp / "evaluate.json",
            "--details", tmp / "evaluation.json", "--plots", tmp / "plots",
            "--montage", tmp / "montage.png", "--model-card", tmp / "model_card.md",
            "--figures", tmp / "figures", *p]
    assert _stage("evaluate").main([str(a) for a in argv]) == 0
    return json.loads((tmp / "evaluate.json").read_text()), len(ann) + 1


def test_evaluate_reports_generator_and_full_system_on_the_generated_track(tmp_path):
    metrics, n_nodules = _evaluate(tmp_path)
    track = metrics["candidates"]
    assert track["source"] == "generated"
    assert track["generator"]["sensitivity"] == 0.9
    assert track["generator"]["candidates_per_scan"] == 4.0
    full = track["full_system"]
    assert full["cpm"] == metrics["oof"]["cpm"]
    assert full["nodules"] == n_nodules and full["nodules_detected"] == n_nodules - 1
    assert max(full["sensitivity_at"].values()) <= full["max_sensitivity"] < 1.0
