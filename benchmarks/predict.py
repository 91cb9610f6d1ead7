"""Time predict without candidates on one default-profile synthetic series, per step.

Writes a one-patient `small` cohort (the default profile) in a temporary folder, exports a tiny
ONNX model unless --model is given, runs `detect_folder` + `write_report` and prints seconds per
step (scan, read, resample, candidates, patch, inference, report). Needs torch only to export the
tiny model. Example: python benchmarks/predict.py [--model models/model.onnx] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_model(path: Path, threshold: float) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "export"))
    import numpy as np
    from export_helpers import PREPROCESS, make_checkpoint, make_net

    from pipeline.data.inputs import model_inputs
    from pipeline.export.metadata import build_metadata
    from pipeline.export.onnx_export import EXPORTER, export_onnx

    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", PREPROCESS)
    meta = build_metadata(make_checkpoint(), x.shape[1:], threshold, EXPORTER)
    path.write_bytes(export_onnx(make_net(), x, 17, meta))
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--threshold", type=float, default=0.6, help="of the tiny model")
    args = p.parse_args()
    from pipeline.export.predict import detect_folder
    from pipeline.parallel import ExecutorParams
    from pipeline.params import load_params
    from pipeline.report.writer import findings_of, write_report
    from pipeline.synth.cohort import synthesize_cohort

    params = load_params(REPO / "params.yaml").synthesize
    cfg = type(params)(**{**vars(params), "seed": args.seed, "n_patients": 1,
                          "second_series_fraction": 0.0, "split_study_fraction": 0.0})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize_cohort(root / "cohort", cfg, ExecutorParams(jobs=1))
        model = args.model or tiny_model(root / "tiny.onnx", args.threshold)
        t0 = time.perf_counter()
        result = detect_folder(root / "cohort" / "dicom", model)
        t1 = time.perf_counter()
        write_report(result.series, result.threshold, root / "report", Path(model).name)
        t2 = time.perf_counter()
    timings = {**result.timings_s, "report": t2 - t1}
    n = len(result.table)
    f = sum(len(findings_of(s.table, result.threshold)) for s in result.series)
    shape = result.series[0].volume.GetSize() if result.series else ()
    print(f"series 1, resampled size (x, y, z) {shape}, {n} candidates, {f} findings")
    for step, seconds in timings.items():
        print(f"{step:>10s} {seconds:7.2f} s")
    print(f"{'total':>10s} {t1 - t0 + timings['report']:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
