"""Hounsfield-unit constants every layer shares (synthesis, resampling, patches, augmentation).

Air is -1000 HU by the definition of the scale (water 0 HU); it fills whatever lies outside a
scan: voxels a resampling grid or a cube reaches beyond the volume, shifted-in borders of an
augmented cube, the background of a synthetic phantom.
"""

from __future__ import annotations

AIR_HU = -1000.0
