"""Export the classifier to ONNX, gated on ONNX Runtime vs PyTorch parity on the test split."""

import argparse
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_params
from pipeline.errors import ParityError, PipelineError
from pipeline.export.run import export_checkpoint
from pipeline.io import write_bytes, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=Path("models/model.pt"))
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--evaluation", type=Path, default=Path("metrics/evaluate.json"),
                   help="evaluate's metrics, for the operating threshold")
    p.add_argument("--output", type=Path, default=Path("models/model.onnx"))
    p.add_argument("--metrics", type=Path, default=Path("metrics/export.json"))
    p.add_argument("--latency", type=Path, default=Path("reports/export_latency.json"),
                   help="timings (vary run to run, so not in the metrics)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    cfg = load_params(args.params).export
    try:
        result = export_checkpoint(args.model, args.patches, args.evaluation, cfg)
    except PipelineError as exc:
        if isinstance(exc, ParityError) and args.output.exists():
            args.output.unlink()  # a stale model must not pass for one that failed its gate
        print(f"export: error: {exc}", file=sys.stderr)
        return 1
    write_bytes(args.output, result.onnx_bytes)
    write_json(args.metrics, result.metrics)
    write_json(args.latency, result.latency)
    lat = result.latency[f"batch_{cfg.large_batch}"]
    print(f"exported {result.metrics['model_name']} to {args.output} (opset {cfg.opset}): "
          f"max |onnx - torch| = {result.parity.max_abs_diff:.2g} <= {cfg.parity_atol:g}; "
          f"batch {cfg.large_batch}: {lat['onnx_ms_per_sample']:.3f} ms/sample onnx vs "
          f"{lat['torch_ms_per_sample']:.3f} torch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
