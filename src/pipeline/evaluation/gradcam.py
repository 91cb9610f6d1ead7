"""Grad-CAM (Selvaraju et al., 2017) with two hooks: where in the input the model looked.

The model names its target layer as ``model.cam_layer`` (the last conv block). The CAM is the
ReLU of the activations weighted by their spatially averaged gradients of the class-1 logit,
upsampled to the input size and scaled to 0..1 per sample.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from pipeline.errors import PipelineError


def grad_cam(model: nn.Module, inputs: np.ndarray | torch.Tensor, target_class: int = 1
             ) -> np.ndarray:
    """CAMs ``(N, *spatial)`` of ``inputs`` ``(N, C, *spatial)``, float32 in 0..1."""
    layer = getattr(model, "cam_layer", None)
    if not isinstance(layer, nn.Module):
        raise PipelineError(f"{type(model).__name__} has no cam_layer for Grad-CAM")
    store: dict[str, torch.Tensor] = {}

    def forward_hook(_module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        store["act"] = out
        out.register_hook(lambda grad: store.__setitem__("grad", grad))

    x = torch.as_tensor(inputs).float().clone()
    was_training = model.training
    model.eval()
    handle = layer.register_forward_hook(forward_hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            model.zero_grad(set_to_none=True)
            logits[:, target_class].sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    act, grad = store["act"].detach(), store["grad"].detach()
    spatial = tuple(range(2, act.ndim))
    weights = grad.mean(dim=spatial, keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1, keepdim=True))
    mode = "trilinear" if cam.ndim == 5 else "bilinear"
    cam = functional.interpolate(cam, size=tuple(x.shape[2:]), mode=mode, align_corners=False)[:, 0]
    flat = cam.reshape(len(cam), -1)
    hi = flat.max(dim=1).values.clamp_min(1e-12)
    cam = cam / hi.reshape((-1,) + (1,) * (cam.ndim - 1))
    model.zero_grad(set_to_none=True)
    return cam.numpy().astype(np.float32)
