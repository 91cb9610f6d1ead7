"""Data-parallel training with PyTorch's own engine: `torchrun --nproc_per_node 2` on the CPU
(gloo) gives the same metrics as one process, within tolerance, and only rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.data.toy_patches import write_toy_folds, write_toy_patches

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _train(tmp: Path, patches: Path, name: str, launcher: list[str]) -> dict:
    out = tmp / name
    cmd = launcher + [str(ROOT / "stages" / "train.py"), "--patches", str(patches),
                      "--folds", str(tmp / "folds.csv"), "--fold", "0", "--output", str(out),
                      "--timing", str(out / "timing.json"), "--live", "",
                      "--params", str(tmp / "params.yaml")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"}
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())


def test_two_process_ddp_matches_single_process_metrics(tmp_path):
    patches = write_toy_patches(tmp_path / "patches", n_candidates=192, cube_size=16, seed=3)
    write_toy_folds(patches, tmp_path / "folds.csv", folds=3)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["cv"].update(folds=3, fold_ids=[0, 1, 2], inner_val=0.25)
    # batch_size is per rank under DDP: 2 x 16 matches one process at 32
    params["train"].update(model="seed2d", epochs=4, batch_size=16, early_stopping_patience=4,
                           slice_px=8)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ddp = _train(tmp_path, patches, "ddp",
                 [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  "--nproc_per_node", "2"])
    params["train"]["batch_size"] = 32
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    single = _train(tmp_path, patches, "single", [sys.executable])
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["val_auc"] > 0.9 and single["val_auc"] > 0.9
    assert abs(ddp["val_auc"] - single["val_auc"]) <= 0.05
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "model.pt", "oof.csv", "summary.json", "timing.json"]
