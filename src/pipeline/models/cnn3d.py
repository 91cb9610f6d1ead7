"""A small 3D CNN on the whole candidate cube, sized to train in minutes on two CPU cores.

A thin stride-2 stem halves the 32-voxel cube at once (BN/ReLU and convolutions at full resolution
are memory-bound and slow on CPU); the next halving is a learned stride-2 convolution rather than a
max pool, so a 4-6 mm nodule (2-3 voxels after the stem) keeps its 3D shape, which is what tells it
from a vessel crossing the candidate. Then conv-BN-ReLU blocks (max pooling before the deeper ones),
global average pooling, dropout and a linear layer. Only ONNX-friendly ops (Conv,
BatchNormalization, Relu, MaxPool, GlobalAveragePool, Gemm).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from pipeline.models.head import PooledClassifier


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3x3 convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class CNN3D(PooledClassifier):
    """stem conv(1 -> ``stem_channels``, stride ``stem_stride``) -> conv(c_0, stride 2) ->
    conv(c_1) -> [maxpool(2), conv(c_i)] for each further width, the last block with a second
    conv -> global average pool -> dropout -> fc(2).

    With the defaults on a 32^3 cube: 8 channels at 16^3, 16 then 32 at 8^3, 64 (twice) at 4^3.
    Input ``(N, 1, C, C, C)`` in 0..1; output logits ``(N, 2)``.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), stem_stride: int = 2,
                 dropout: float = 0.2, num_classes: int = 2, stem_channels: int = 8) -> None:
        super().__init__()
        if len(channels) < 1:
            raise ValueError(f"cnn3d needs at least one channel width, got {list(channels)}")
        if stem_channels < 1:
            raise ValueError(f"cnn3d needs stem_channels >= 1, got {stem_channels}")
        # The first downsampling is a learned stride-2 convolution, not a max pool: small nodules
        # (2-3 voxels after the stem) keep their 3D shape instead of collapsing to one maximum.
        blocks: list[nn.Module] = [conv_bn_relu(1, stem_channels, stride=stem_stride),
                                   conv_bn_relu(stem_channels, channels[0], stride=2)]
        cin = channels[0]
        for i, cout in enumerate(channels[1:]):
            conv = conv_bn_relu(cin, cout)
            blocks.append(conv if i == 0 else nn.Sequential(nn.MaxPool3d(2), conv))
            cin = cout
        blocks.append(conv_bn_relu(cin, cin))
        self.features = nn.Sequential(*blocks)
        self.add_head(nn.AdaptiveAvgPool3d(1), cin, dropout, num_classes)
