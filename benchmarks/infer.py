"""Inference speed: ONNX Runtime vs PyTorch per model, and predict's end-to-end time per series.

Both engines run the same exported network on the same inputs in the same process, so the ratio
(PyTorch ms / ONNX Runtime ms) is meaningful on a busy machine even when the absolute numbers are
not. Then ``predict_folder`` scores candidates on a synthetic series of realistic size (written
with the project's DICOM writer) and the time is split into scan, read, resample, patch and
inference. Weights are random (speed does not depend on them).

    .venv/bin/python benchmarks/infer.py [--models seed2d cnn3d] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.data.inputs import model_inputs
from pipeline.export.metadata import build_metadata
from pipeline.export.onnx_export import EXPORTER, ProbabilityHead, export_onnx
from pipeline.export.predict import predict_folder
from pipeline.export.runtime import open_session
from pipeline.imaging.geometry import Geometry
from pipeline.models.registry import build_model, default_model_kwargs, input_kind
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

PREPROCESS = {"spacing_mm": 1.0, "cube_size": 32, "slice_px": 28, "hu_window": [-1000.0, 400.0],
              "hu_range": [-1024.0, 3071.0], "interpolator": "linear", "anti_alias": True,
              "axes": "zyx-LPS-ascending"}
IDENTITY = PatientIdentity(
    patient_name="BENCH^MARK", patient_id="BENCH-1", birth_date="19600101", sex="O", age="064Y",
    accession_number="ACC0000001", study_date="20240101", study_time="120000",
    institution_name="Bench", institution_address="-", referring_physician="-",
    performing_physician="-", operator_name="-", station_name="BENCH", device_serial="0")


def _median_ms(fn, x: np.ndarray, batch: int, repeats: int) -> float:
    fn(x[:batch])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            fn(x[i:i + batch])
        times.append(1000.0 * (time.perf_counter() - start) / len(x))
    return statistics.median(times)


def export_model(name: str) -> tuple[torch.nn.Module, bytes, np.ndarray]:
    """A randomly initialised registry model, its ONNX bytes and 64 inputs."""
    torch.manual_seed(0)
    kwargs = default_model_kwargs(name, PREPROCESS)
    net = build_model(name, **kwargs).eval()
    cubes = np.random.default_rng(0).integers(-1000, 400, (64, 32, 32, 32)).astype(np.int16)
    x = model_inputs(cubes, input_kind(name), PREPROCESS)
    ckpt = {"model_name": name, "model_kwargs": kwargs, "input_kind": input_kind(name),
            "preprocess": PREPROCESS}
    return net, export_onnx(net, x, 17, build_metadata(ckpt, x.shape[1:], 0.5, EXPORTER)), x


def bench_engines(name: str, repeats: int) -> None:
    net, model_bytes, x = export_model(name)
    head = ProbabilityHead(net).eval()
    session = open_session(model_bytes)

    def run_torch(b: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return head(torch.from_numpy(b))[0].numpy()

    def run_onnx(b: np.ndarray) -> np.ndarray:
        return session.run(["probability"], {"input": b})[0]

    for batch in (1, 64):
        xs = x[:16] if batch == 1 else x
        t_torch = _median_ms(run_torch, xs, batch, repeats)
        t_onnx = _median_ms(run_onnx, xs, batch, repeats)
        print(f"{name:8s} batch {batch:3d}: onnxruntime {t_onnx:8.3f} ms/sample, torch "
              f"{t_torch:8.3f} ms/sample, torch/onnx = {t_torch / t_onnx:5.2f}x")


def bench_predict(shape_zyx: tuple[int, int, int], n_candidates: int, model: str) -> None:
    _, model_bytes, _ = export_model(model)
    z, y, x = shape_zyx
    spacing = (0.7, 0.7, 2.5)
    geometry = Geometry(origin=(-x * spacing[0] / 2, -y * spacing[1] / 2, -300.0), spacing=spacing)
    rng = np.random.default_rng(1)
    volume = rng.normal(-700, 150, shape_zyx)
    uids = SeriesUIDs("1.2.3.1", "1.2.3.2", "1.2.3.3", tuple(f"1.2.3.4.{k}" for k in range(z)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "series"
        write_ct_series(volume, geometry, [root / f"IM{k:05d}" for k in range(z)], IDENTITY, uids)
        lo, hi = geometry.index_to_world((0, 0, 0)), geometry.index_to_world((x - 1, y - 1, z - 1))
        centers = rng.uniform(lo, hi, size=(n_candidates, 3))
        cands = pd.DataFrame(centers, columns=["coordX", "coordY", "coordZ"])
        start = time.perf_counter()
        result = predict_folder(root, cands, model_bytes)
        total = time.perf_counter() - start
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings_s.items())
    print(f"predict ({model}) on {x}x{y}x{z} voxels, {n_candidates} candidates: total "
          f"{total:.2f}s = {steps} (rest {total - sum(result.timings_s.values()):.2f}s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["seed2d", "cnn3d"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--series", type=int, nargs=3, default=[100, 160, 160], metavar=("Z", "Y", "X"))
    p.add_argument("--candidates", type=int, default=50)
    args = p.parse_args()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    for name in args.models:
        bench_engines(name, args.repeats)
    bench_predict(tuple(args.series), args.candidates, "cnn3d")


if __name__ == "__main__":
    main()
