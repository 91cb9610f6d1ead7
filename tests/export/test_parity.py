"""The parity gate: passes for a faithful export, raises ParityError for a different model."""

import pytest
import torch
from export_helpers import PREPROCESS, make_checkpoint, make_cubes, make_net

from pipeline.data.inputs import model_inputs
from pipeline.errors import ParityError
from pipeline.export.metadata import build_metadata
from pipeline.export.onnx_export import EXPORTER, export_onnx
from pipeline.export.parity import check_parity
from pipeline.export.run import export_and_check
from pipeline.export.runtime import open_session


def _inputs(n=9):
    return model_inputs(make_cubes(n), "cube3d", PREPROCESS)


def _session(net, x):
    meta = build_metadata(make_checkpoint(), x.shape[1:], 0.5, EXPORTER)
    return open_session(export_onnx(net, x, 17, meta))


def test_parity_gate_passes_for_the_exported_model_at_batch_1_and_large_batch():
    x = _inputs()
    report = check_parity(make_net(), _session(make_net(), x), x, (1, 16), atol=1e-4)
    assert report.passed and [b.batch_size for b in report.batches] == [1, 16]
    assert report.max_abs_diff <= 1e-4


def test_large_batch_cycles_the_inputs_to_reach_the_batch_size():
    x = _inputs(5)
    report = check_parity(make_net(), _session(make_net(), x), x, (1, 16), atol=1e-4)
    assert [b.samples for b in report.batches] == [5, 16]


def test_parity_gate_raises_when_the_onnx_model_is_a_perturbed_network():
    x = _inputs()
    sabotaged = make_net()
    with torch.no_grad():
        sabotaged.fc.bias.add_(torch.tensor([0.0, 0.01]))  # shifts every probability by ~2e-3
    with pytest.raises(ParityError, match=r"differ by up to .* at batch 1 .* expected at most"):
        check_parity(make_net(), _session(sabotaged, x), x, (1, 16), atol=1e-4)


def test_export_and_check_raises_parity_error_with_a_tiny_tolerance_and_another_model(
        export_params):
    x = _inputs()
    reference, other = make_net(seed=0), make_net(seed=1)

    def run(net):
        return export_and_check(net, make_checkpoint(), x, 0.5, export_params)

    assert run(reference).parity.passed
    # gate the second model's ONNX against the first network's outputs
    session = _session(other, x)
    with pytest.raises(ParityError):
        check_parity(reference, session, x, (1, export_params.large_batch), atol=1e-12)


def test_export_metrics_hold_deterministic_figures_and_latency_is_separate(export_params):
    result = export_and_check(make_net(), make_checkpoint(), _inputs(), 0.5, export_params)
    assert set(result.metrics["parity"]) == {"batch_1", "batch_16"}
    assert result.metrics["opset"] == 17 and result.metrics["test_samples"] == 9
    assert "ms" not in str(result.metrics)
    assert result.latency["batch_16"]["onnx_ms_per_sample"] > 0
    assert result.latency["batch_1"]["torch_ms_per_sample"] > 0
