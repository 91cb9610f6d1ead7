"""stages/export.py on a tiny checkpoint and patches folder built in tmp_path."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from export_helpers import PREPROCESS, make_cubes

import pipeline.export.run as export_run
from pipeline.io import write_bytes, write_json

REPO = Path(__file__).resolve().parents[2]


def _stage():
    spec = importlib.util.spec_from_file_location("export_stage_script", REPO / "stages/export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stage_inputs(tmp_path):
    """model.pt (a registry cnn3d of width 2), patches/{test.npy, preprocess.json},
    evaluate.json and a params file with a small large_batch."""
    ckpt_mod = pytest.importorskip("pipeline.training.checkpoint")
    torch.manual_seed(0)
    kwargs = {"channels": [2]}
    net = pytest.importorskip("pipeline.models.registry").build_model("cnn3d", **kwargs)
    ckpt = {"model_name": "cnn3d", "model_kwargs": kwargs, "input_kind": "cube3d",
            "state_dict": net.state_dict(), "preprocess": dict(PREPROCESS),
            "train_params": {"model": "cnn3d", "lr": 0.001}, "data_hash": "md5:feed",
            "best_epoch": 2, "val_auc": 0.8}
    write_bytes(tmp_path / "model.pt", ckpt_mod.checkpoint_bytes(ckpt))
    patches = tmp_path / "patches"
    patches.mkdir()
    np.save(patches / "test.npy", make_cubes(6))
    write_json(patches / "preprocess.json", PREPROCESS)
    write_json(tmp_path / "evaluate.json", {"auc": 0.8, "threshold": 0.25})
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["export"] = {"opset": 17, "parity_atol": 1e-4, "large_batch": 8}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def _argv(d):
    return ["--model", str(d / "model.pt"), "--patches", str(d / "patches"),
            "--evaluation", str(d / "evaluate.json"), "--output", str(d / "out/model.onnx"),
            "--metrics", str(d / "out/export.json"), "--latency", str(d / "out/latency.json"),
            "--params", str(d / "params.yaml")]


def test_export_stage_writes_model_and_reproducible_metrics(stage_inputs):
    stage, d = _stage(), stage_inputs
    assert stage.main(_argv(d)) == 0
    model, metrics = (d / "out/model.onnx").read_bytes(), (d / "out/export.json").read_bytes()
    assert stage.main(_argv(d)) == 0
    assert (d / "out/model.onnx").read_bytes() == model
    assert (d / "out/export.json").read_bytes() == metrics
    figures = json.loads(metrics)
    assert figures["threshold"] == 0.25 and figures["parity"]["batch_8"]["samples"] == 8
    assert figures["max_abs_diff"] <= 1e-4
    assert set(json.loads((d / "out/latency.json").read_text())) >= {"batch_1", "batch_8"}


def test_export_stage_fails_on_parity_and_leaves_no_model(stage_inputs, monkeypatch, capsys):
    stage, d = _stage(), stage_inputs
    real_export = export_run.export_onnx

    def sabotaged_export(network, example, opset, metadata=None):
        other = type(network)(channels=[2]).eval()  # fresh weights: a different model
        return real_export(other, example, opset, metadata)

    monkeypatch.setattr(export_run, "export_onnx", sabotaged_export)
    write_bytes(d / "out/model.onnx", b"stale model from an earlier run")
    assert stage.main(_argv(d)) == 1
    assert not (d / "out/model.onnx").exists()
    assert "ONNX Runtime and PyTorch probabilities differ" in capsys.readouterr().err
