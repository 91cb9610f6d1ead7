"""Models by name: the one table that maps a params ``train.model`` to a network and its input.

Rules that are data live as data: ``MODELS`` below is the registry; ``build_model`` and
``input_kind`` only read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from pipeline.errors import ConfigError
from pipeline.models.cnn3d import CNN3D
from pipeline.models.multiview import MultiView
from pipeline.models.seed2d import Seed2D

InputKind = Literal["slice2d", "cube3d", "multiview"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered network: its constructor and the input kind it expects."""

    factory: Callable[..., nn.Module]
    input_kind: InputKind
    description: str


MODELS: dict[str, ModelSpec] = {
    "seed2d": ModelSpec(Seed2D, "slice2d", "baseline 2D CNN on the central 28x28 axial slice"),
    "cnn3d": ModelSpec(CNN3D, "cube3d",
                       "3D CNN (strided stem, conv-BN-ReLU, average + centre) on the cube centre"),
    "multiview": ModelSpec(MultiView, "multiview", "2.5D CNN on axial/coronal/sagittal slices"),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
#: spatial axes of each input kind (what test-time flips mirror)
SPATIAL_DIMS: dict[InputKind, int] = {"slice2d": 2, "cube3d": 3, "multiview": 2}


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; expected one of {list(MODEL_NAMES)}")
    return MODELS[name]


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate the network registered as ``name`` with constructor ``kwargs``."""
    spec = _spec(name)
    try:
        return spec.factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model {name!r} does not accept {sorted(kwargs)}: {exc}") from None


def input_kind(name: str) -> InputKind:
    """``"slice2d"``, ``"cube3d"`` or ``"multiview"``: what :func:`model_inputs` must produce."""
    return _spec(name).input_kind


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def default_model_kwargs(name: str, preprocess: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs implied by the data (``seed2d``'s fc size follows ``slice_px``)."""
    _spec(name)
    if name == "seed2d":
        return {"slice_px": int(preprocess["slice_px"])}
    return {}
