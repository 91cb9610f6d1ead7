"""Export the deployed model, the ensemble of the cross-validation's fold models, to one ONNX
graph, gated on ONNX Runtime vs PyTorch parity over sampled cubes."""

import argparse
import logging
from pathlib import Path

from pipeline.cli import run_stage
from pipeline.config import load_section
from pipeline.data.params import CvParams
from pipeline.errors import ParityError
from pipeline.export.params import ExportParams
from pipeline.export.run import export_ensemble
from pipeline.fingerprint.parts import read_parts
from pipeline.fingerprint.shift import load_shift_params, training_ranges, write_model_ranges
from pipeline.io import write_bytes, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--folds-dir", type=Path, default=Path("models/cv/model"),
                   help="the model's fold outputs: <dir>/fold<N>/model.pt")
    p.add_argument("--patches", type=Path, default=Path("data/processed/patches"))
    p.add_argument("--output", type=Path, default=Path("models/model.onnx"))
    p.add_argument("--metrics", type=Path, default=Path("reports/export.json"))
    p.add_argument("--latency", type=Path, default=Path("logs/export_latency.json"),
                   help="timings (vary run to run: untracked, not in the metrics)")
    p.add_argument("--fingerprint", type=Path, default=Path("reports/fingerprint"),
                   help="the training data's fingerprint parts: their ranges ship beside the "
                        "model (<output stem>.fingerprint.json) for predict's shift check")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args) -> int:
    cfg = load_section(args.params, "export", ExportParams)
    folds = load_section(args.params, "cv", CvParams).fold_ids
    try:
        result = export_ensemble([args.folds_dir / f"fold{i}" / "model.pt" for i in folds],
                                 args.patches, cfg)
    except ParityError:
        if args.output.exists():
            args.output.unlink()  # a stale model must not pass for one that failed its gate
        raise
    write_bytes(args.output, result.onnx_bytes)
    if (args.fingerprint / "ingest.json").is_file():  # stand-alone runs may have none
        write_model_ranges(args.output, training_ranges(read_parts(args.fingerprint)),
                           load_shift_params(args.params))
    else:
        logging.getLogger("export").warning("no fingerprint in %s: the model ships without its "
                                            "training ranges (predict cannot check for shift)",
                                            args.fingerprint)
    write_json(args.metrics, result.metrics)
    write_json(args.latency, result.latency)
    lat = result.latency[f"batch_{cfg.large_batch}"]
    print(f"exported the {len(folds)}-fold ensemble of {result.metrics['model_name']} to "
          f"{args.output} (opset {cfg.opset}): max |onnx - torch| = "
          f"{result.parity.max_abs_diff:.2g} <= {cfg.parity_atol:g}; batch {cfg.large_batch}: "
          f"{lat['onnx_ms_per_sample']:.3f} ms/sample onnx vs {lat['torch_ms_per_sample']:.3f} "
          f"torch")
    return 0


def main(argv=None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
