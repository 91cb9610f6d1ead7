"""The image montage of ``evaluate``: example candidates with Grad-CAM (the model card is
``pipeline.evaluation.run.model_card``, from ``templates/model_card.md``).

Rendered from the pipeline's own outputs (predictions, checkpoint) to bytes; the stage script
writes them. PNGs carry no software/version metadata, so they are reproducible.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LUNG_WINDOW = (-1350.0, 150.0)  # level -600 HU, width 1500 HU
GROUPS = ("true positive", "false positive", "false negative")


def select_examples(labels: np.ndarray, probs: np.ndarray, threshold: float, per_group: int
                    ) -> dict[str, np.ndarray]:
    """Row indices of the most confident TPs and FPs (highest p) and FNs (lowest p)."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    pred = probs >= threshold
    order_desc = np.argsort(-probs, kind="stable")
    order_asc = np.argsort(probs, kind="stable")
    tp = [i for i in order_desc if labels[i] == 1 and pred[i]]
    fp = [i for i in order_desc if labels[i] == 0 and pred[i]]
    fn = [i for i in order_asc if labels[i] == 1 and not pred[i]]
    picked = (tp, fp, fn)
    return {g: np.asarray(v[:per_group], dtype=np.int64)
            for g, v in zip(GROUPS, picked, strict=True)}


def axial_views(cubes_hu: np.ndarray, cams: np.ndarray, input_kind: str, slice_px: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The central axial HU slice the model saw and the matching CAM plane, ``(N, H, W)`` each."""
    c = cubes_hu.shape[1]
    if input_kind == "cube3d":
        return cubes_hu[:, c // 2], cams[:, c // 2]
    w = slice(c // 2 - slice_px // 2, c // 2 - slice_px // 2 + slice_px)
    return cubes_hu[:, c // 2, w, w], cams


def render_montage(images_hu: Mapping[str, np.ndarray], cams: Mapping[str, np.ndarray],
                   captions: Mapping[str, Sequence[str]], per_group: int,
                   window: tuple[float, float] = LUNG_WINDOW) -> bytes:
    """PNG bytes: one row per group (TP, FP, FN), ``per_group`` columns, CAM overlaid in colour."""
    cols = max(per_group, 1)
    fig, axes = plt.subplots(len(GROUPS), cols, figsize=(1.7 * cols + 0.6, 1.9 * len(GROUPS)),
                             squeeze=False)
    for r, group in enumerate(GROUPS):
        for k in range(cols):
            ax = axes[r][k]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if k < len(images_hu.get(group, [])):
                ax.imshow(images_hu[group][k], cmap="gray", vmin=window[0], vmax=window[1],
                          interpolation="nearest")
                ax.imshow(cams[group][k], cmap="jet", alpha=0.35, vmin=0.0, vmax=1.0,
                          interpolation="bilinear")
                ax.set_title(captions[group][k], fontsize=7)
            elif k == 0:
                ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=8)
            if k == 0:
                ax.set_ylabel(group, fontsize=8)
    fig.suptitle("Test candidates: central axial slice (lung window) with Grad-CAM", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
