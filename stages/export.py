"""Export the deployed model, the ensemble of the cross-validation's fold models, to one ONNX
graph, gated on ONNX Runtime vs PyTorch parity over sampled cubes."""

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.cv_params import CvParams
from pipeline.export.params import ExportParams
from pipeline.fingerprint.shift import load_shift_params
from pipeline.stages import export


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


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "export", ExportParams)
    folds = load_section(args.params, "cv", CvParams).fold_ids
    report = export.run(args.folds_dir, args.patches, folds, cfg, args.output)
    report.write(args.metrics, args.latency, args.fingerprint, load_shift_params(args.params))
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())
