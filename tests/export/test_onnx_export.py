"""ONNX export: a checked graph with a probability output, dynamic batch and the metadata."""

import json

import numpy as np
import onnx
import pytest
import torch
from export_helpers import PREPROCESS, make_checkpoint, make_cubes, make_net

from pipeline.data.inputs import model_inputs
from pipeline.export.metadata import build_metadata, parse_metadata
from pipeline.export.onnx_export import EXPORTER, export_onnx
from pipeline.export.runtime import open_session, predict_proba


def _export(net, x, threshold=0.37):
    meta = build_metadata(make_checkpoint(), x.shape[1:], threshold, EXPORTER)
    return export_onnx(net, x, 17, meta)


def _inputs(n=9):
    return model_inputs(make_cubes(n), "cube3d", PREPROCESS)


def test_exported_model_passes_checker_with_pinned_opset_and_named_io():
    proto = onnx.load_from_string(_export(make_net(), _inputs()))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["probability", "logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_metadata_carries_preprocessing_threshold_and_provenance():
    x = _inputs()
    props = {p.key: p.value for p in onnx.load_from_string(_export(make_net(), x)).metadata_props}
    assert props["model_name"] == "tiny3d" and props["input_kind"] == "cube3d"
    assert json.loads(props["input_shape"]) == ["N", 1, 12, 12, 12]
    assert json.loads(props["preprocess"]) == PREPROCESS
    assert json.loads(props["hu_window"]) == [-1000.0, 400.0]
    assert json.loads(props["hu_range"]) == [-1024.0, 3071.0]
    assert props["interpolator"] == "linear"
    assert json.loads(props["spacing_mm"]) == 1.0
    assert json.loads(props["cube_size"]) == 12 and json.loads(props["slice_px"]) == 8
    assert json.loads(props["class_names"]) == ["non-nodule", "nodule"]
    assert float(props["threshold"]) == 0.37
    assert json.loads(props["train_params"]) == {"epochs": 2, "lr": 0.001}
    assert props["data_hash"] == "md5:0123abcd"
    meta = parse_metadata(props)
    assert meta.input_shape == (1, 12, 12, 12) and meta.threshold == 0.37


@pytest.mark.parametrize("batch", [1, 7])
def test_dynamic_batch_gives_one_probability_per_sample(batch):
    x = _inputs(9)
    session = open_session(_export(make_net(), x[:1]))
    probs = predict_proba(session, x[:batch], batch_size=batch)
    assert probs.shape == (batch,)
    with torch.no_grad():
        expected = torch.softmax(make_net()(torch.from_numpy(x[:batch])), 1)[:, 1].numpy()
    assert np.allclose(probs, expected, atol=1e-5)


def test_probability_output_is_softmax_of_logits_output():
    x = _inputs(5)
    session = open_session(_export(make_net(), x))
    prob, logits = session.run(["probability", "logits"], {"input": x})
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.allclose(prob, e[:, 1] / e.sum(axis=1), atol=1e-6)


def test_export_twice_is_byte_identical():
    x = _inputs()
    assert _export(make_net(), x) == _export(make_net(), x)


def test_export_leaves_a_training_network_in_training_mode():
    net = make_net().train()
    _export(net, _inputs())
    assert net.training


def test_2d_network_exports_with_its_slice_input_shape():
    x = model_inputs(make_cubes(4), "slice2d", PREPROCESS)
    meta = build_metadata(make_checkpoint("tiny2d", "slice2d"), x.shape[1:], None, EXPORTER)
    session = open_session(export_onnx(make_net(dims=2), x, 17, meta))
    assert predict_proba(session, x).shape == (4,)
    assert json.loads(meta["input_shape"]) == ["N", 1, 8, 8]


@pytest.mark.parametrize("name", ["seed2d", "cnn3d", "multiview"])
def test_registry_networks_export_and_match_torch(name):
    registry = pytest.importorskip("pipeline.models.registry")
    kind = registry.input_kind(name)
    pre = dict(PREPROCESS, cube_size=16, slice_px=28) if name == "seed2d" else PREPROCESS
    cubes = make_cubes(3, size=32 if name == "seed2d" else 16)
    kwargs = registry.default_model_kwargs(name, pre)
    torch.manual_seed(0)
    net = registry.build_model(name, **kwargs).eval()
    x = model_inputs(cubes, kind, pre)
    ckpt = dict(make_checkpoint(name, kind), model_kwargs=kwargs, preprocess=pre)
    session = open_session(export_onnx(net, x, 17, build_metadata(ckpt, x.shape[1:], 0.5,
                                                                  EXPORTER)))
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(x)), 1)[:, 1].numpy()
    assert np.abs(predict_proba(session, x) - expected).max() <= 1e-4
