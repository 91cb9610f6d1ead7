"""Helpers for tests/export: tiny networks, checkpoints and a tiny DICOM series on disk.

A uniquely named module (not conftest) so ``from export_helpers import ...`` never picks up
another directory's conftest; the fixtures live in this folder's conftest.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.imaging.geometry import Geometry
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

PREPROCESS: dict[str, Any] = {
    "spacing_mm": 1.0, "cube_size": 12, "slice_px": 8, "hu_window": [-1000.0, 400.0],
    "hu_range": [-1024.0, 3071.0], "interpolator": "linear", "anti_alias": True,
    "pad_hu": -1000.0, "axes": "zyx-LPS-ascending",
}
IDENTITY = PatientIdentity(
    patient_name="DOE^JANE", patient_id="PAT-0001", birth_date="19610203", sex="F", age="063Y",
    accession_number="ACC00012345", study_date="20240105", study_time="101500",
    institution_name="General Hospital", institution_address="1 Main Street",
    referring_physician="REF^DOC", performing_physician="PERF^DOC", operator_name="OP^ONE",
    station_name="CTSTATION1", device_serial="SN-998877",
)
# the tiny series: 20 x 20 pixels of 1.5 mm, 10 slices of 2.5 mm, identity direction
SERIES_ORIGIN = (-15.0, -12.0, -100.0)
SERIES_SPACING = (1.5, 1.5, 2.5)
BALL_CENTER_MM = (0.0, 3.0, -88.75)


class TinyNet(nn.Module):
    """conv-BN-ReLU, global pool, linear to 2 logits; 2D or 3D."""

    def __init__(self, dims: int = 3, in_channels: int = 1, width: int = 4) -> None:
        super().__init__()
        conv, bn, pool = ((nn.Conv3d, nn.BatchNorm3d, nn.AdaptiveAvgPool3d) if dims == 3
                          else (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d))
        self.features = nn.Sequential(conv(in_channels, width, 3, padding=1), bn(width),
                                      nn.ReLU(), pool(1))
        self.fc = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def make_net(dims: int = 3, seed: int = 0, in_channels: int = 1) -> TinyNet:
    """A TinyNet with seeded weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = TinyNet(dims, in_channels)
    bn = net.features[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        net.fc.weight.mul_(5.0)  # spread the probabilities away from 0.5
    return net.eval()


def make_checkpoint(model_name: str = "tiny3d", input_kind: str = "cube3d") -> dict[str, Any]:
    return {"model_name": model_name, "model_kwargs": {}, "input_kind": input_kind,
            "preprocess": dict(PREPROCESS), "train_params": {"lr": 0.001, "epochs": 2},
            "data_hash": "md5:0123abcd", "best_epoch": 1, "val_auc": 0.75}


def make_cubes(n: int = 9, size: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-1000, 400, size=(n, size, size, size)).astype(np.int16)


def write_series(folder: Path, series_uid: str, ball_center_mm=BALL_CENTER_MM) -> list[Path]:
    """A 10-slice 20x20 CT series with a 5 mm soft-tissue ball at ``ball_center_mm``."""
    geometry = Geometry(origin=SERIES_ORIGIN, spacing=SERIES_SPACING)
    idx = np.indices((10, 20, 20)).reshape(3, -1).T[:, ::-1]  # (i, j, k) per voxel
    world = geometry.index_to_world(idx).reshape(10, 20, 20, 3)
    dist = np.linalg.norm(world - np.asarray(ball_center_mm), axis=-1)
    volume = np.where(dist < 5.0, 40.0, -850.0)
    uids = SeriesUIDs(study_uid=f"{series_uid}.1", series_uid=series_uid,
                      frame_of_reference_uid=f"{series_uid}.2",
                      sop_instance_uids=tuple(f"{series_uid}.3.{k}" for k in range(10)))
    # opaque names, not in stack order, as a PACS export writes them
    paths = [folder / f"IM{(k * 7) % 10:04d}" for k in range(10)]
    return write_ct_series(volume, geometry, paths, IDENTITY, uids)
