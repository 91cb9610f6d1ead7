"""2.5D: axial, coronal and sagittal slices through the candidate as three channels of a 2D CNN
(after the multi-view ConvNets of Setio et al., 2016, with the views fused at the input)."""

from __future__ import annotations

from torch import nn

from pipeline.models.head import PooledClassifier


def conv_bn_relu2d(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MultiView(PooledClassifier):
    """conv-BN-ReLU blocks (32, 64 with pooling, then 64) -> global average pool -> fc.

    Input ``(N, 3, S, S)`` in 0..1 (axial, coronal, sagittal); output logits ``(N, 2)``.
    """

    def __init__(self, in_views: int = 3, width: int = 32, dropout: float = 0.2,
                 num_classes: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu2d(in_views, width), nn.MaxPool2d(2),
            conv_bn_relu2d(width, 2 * width), nn.MaxPool2d(2),
            conv_bn_relu2d(2 * width, 2 * width),
        )
        self.add_head(nn.AdaptiveAvgPool2d(1), 2 * width, dropout, num_classes)
