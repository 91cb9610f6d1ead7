"""Helpers of the MetaImage tests (a uniquely named module, not a conftest)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import SimpleITK as sitk
import yaml

from pipeline.imaging.geometry import Geometry

REPO = Path(__file__).resolve().parents[2]


def load_stage(name: str) -> ModuleType:
    """Import ``stages/<name>.py`` as a module (stages/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"metaimage_stage_{name}",
                                                  REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def write_params(path: Path, **sections: dict) -> Path:
    """The repository's params.yaml with some keys of some sections replaced, every jobs = 1."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for section in raw.values():
        if isinstance(section, dict) and "jobs" in section:
            section["jobs"] = 1
    for section, values in sections.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_mhd(path: Path, volume_zyx: np.ndarray, geometry: Geometry) -> Path:
    """Write a ``(z, y, x)`` array as MetaImage ``path`` (``.mhd`` + ``.raw``) with ``geometry``."""
    image = sitk.GetImageFromArray(volume_zyx)
    geometry.apply_to_sitk(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def set_header_field(path: Path, key: str, value: str) -> None:
    """Replace the value of ``key`` in a MetaImage header."""
    lines = path.read_text(encoding="latin-1").splitlines()
    out = [f"{key} = {value}" if ln.split("=")[0].strip() == key else ln for ln in lines]
    path.write_text("\n".join(out) + "\n", encoding="latin-1")
