"""The numerical pin: oneDNN capped at AVX2, MKL on its reproducible COMPATIBLE branch and ATen on
AVX2 whatever the shell says, so training writes the same bytes on AVX2 and AVX-512 machines (and
under any ONEDNN_MAX_CPU_ISA, MKL_CBWR or ATEN_CPU_CAPABILITY a user exported)."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.numerics import MAX_CPU_ISA, PINNED_ENVIRONMENT, numerics_record, pin_numerics

REPO = Path(__file__).resolve().parents[1]

TRAIN_ONE_FOLD = """
import sys
from pathlib import Path
from pipeline.data.cv_params import CvParams
from pipeline.training.params import TrainParams
from pipeline.data.toy_patches import write_toy_folds, write_toy_patches
from pipeline.training.checkpoint import checkpoint_bytes
from pipeline.training.run import fit_fold
out = Path(sys.argv[1])
patches = write_toy_patches(out / "patches", n_candidates=48, cube_size=12)
write_toy_folds(patches, out / "folds.csv", folds=2)
cfg = TrainParams(model="cnn3d", seed=3, epochs=1, batch_size=8, lr=1e-3, weight_decay=0.0,
                  balance="sampler", augment=True, early_stopping_patience=1, device="cpu",
                  num_workers=0, hu_window=(-1000.0, 400.0), slice_px=8, threshold="youden",
                  target_sensitivity=0.9)
result = fit_fold(patches, out / "folds.csv", 0, cfg, CvParams(2, (0, 1), 7, 0.25))
(out / "model.pt").write_bytes(checkpoint_bytes(result.checkpoint))
"""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def _train(tmp_path: Path, shell: dict[str, str] | None = None, cpu: str | None = None) -> str:
    """The checkpoint digest of TRAIN_ONE_FOLD in a fresh process with ``shell`` exported,
    natively or under QEMU's user-mode emulation of ``cpu`` (its CPUID: the instruction sets,
    vendor and caches that oneDNN, MKL and ATen dispatch on)."""
    shell = shell or {}
    out = tmp_path / "-".join([cpu or "native", *shell.values()])
    env = {k: v for k, v in os.environ.items() if k != "LUNG_NUMERICS"} | shell
    prefix = ["qemu-x86_64", "-cpu", cpu] if cpu else []
    subprocess.run([*prefix, sys.executable, "-c", TRAIN_ONE_FOLD, str(out)], env=env,
                   check=True, cwd=REPO, capture_output=True)
    return hashlib.sha256((out / "model.pt").read_bytes()).hexdigest()


def _isa(isa: str) -> dict[str, str]:
    """oneDNN's ISA cap, as a user would export it."""
    return {"ONEDNN_MAX_CPU_ISA": isa, "DNNL_MAX_CPU_ISA": isa}


def test_pin_overrides_what_the_shell_set(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    monkeypatch.delenv("LUNG_NUMERICS", raising=False)
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    monkeypatch.setenv("MKL_DYNAMIC", "TRUE")
    pin_numerics()
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == MAX_CPU_ISA == "AVX2"
    assert os.environ["MKL_CBWR"] == "COMPATIBLE"
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"
    assert os.environ["MKL_DYNAMIC"] == "FALSE"
    record = numerics_record()
    assert record["pinned"] is True
    assert (record["mkl_cbwr"], record["aten_cpu_capability"]) == ("COMPATIBLE", "avx2")


def test_the_pin_is_in_force_in_a_fresh_process():
    """What a stage script sees: importing ``pipeline`` sets every variable before torch runs."""
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENVIRONMENT}
    env.pop("LUNG_NUMERICS", None)
    code = ("import os, pipeline, torch; torch.ones(2) @ torch.ones(2);"
            f"print(all(os.environ[k] == v for k, v in {PINNED_ENVIRONMENT!r}.items()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO,
                         capture_output=True, text=True)
    assert out.stdout.strip() == "True"


def test_native_mode_leaves_the_environment_alone(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    monkeypatch.setenv("LUNG_NUMERICS", "native")
    assert pin_numerics() == {}
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"


@pytest.mark.slow
def test_training_writes_identical_bytes_under_two_cpu_isa_settings(tmp_path):
    """AVX (which this pin overrides; without it the convolutions differ) against AVX2, and
    AVX-512 where the CPU has it; MKL's default dispatch and ATen's scalar kernels (without the
    pin, each changes the weights) against the pinned ones."""
    flags = _cpu_flags()
    if "avx2" not in flags:
        pytest.skip("the pin promises identical bytes on CPUs with AVX2 only")
    isas = ["AVX", "AVX2"] + (["AVX512_CORE"] if "avx512f" in flags else [])
    digests = {isa: _train(tmp_path, _isa(isa)) for isa in isas}
    digests["AVX2, MKL AUTO, ATen default"] = _train(
        tmp_path, _isa("AVX2") | {"MKL_CBWR": "AUTO", "ATEN_CPU_CAPABILITY": "default"})
    assert len(set(digests.values())) == 1, digests


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-x86_64") is None or platform.machine() != "x86_64",
                    reason="needs QEMU user-mode emulation (Debian's qemu-user) on x86-64")
def test_training_writes_identical_bytes_on_an_emulated_intel_and_amd_cpu(tmp_path):
    """The same fold trained on this CPU, on an emulated Intel Haswell (AVX2, no AVX-512) and an
    emulated AMD EPYC gives one checkpoint. Without the pin the two emulated CPUs already differ
    (MKL dispatches by vendor), and with the per-tensor Adam the emulated ones differ from a real
    CPU (MKL's vector-math square root)."""
    digests = {cpu or "native": _train(tmp_path, cpu=cpu) for cpu in (None, "Haswell", "EPYC")}
    assert len(set(digests.values())) == 1, digests
