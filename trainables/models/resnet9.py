"""ResNet-9 in the style of Page's DAWNBench net, airbench and the Zhang et al. experiments.

prep -> [conv, pool, 2 residual convs] -> [conv, pool] -> [conv, pool, 2 residual convs] -> global max
pool -> linear scaled by 1/8. Pooling uses ceil mode and the head pools globally, so the same net runs on
32x32 RGB, 28x28 grayscale (28 -> 14 -> 7 -> 4) and 8x8 digits (8 -> 4 -> 2 -> 1).
"""

from __future__ import annotations

import torch
from torch import nn

from trainables.models.blocks import ClassifierHead, ConvBNAct


class _Stage(nn.Module):
    """conv-bn-relu, 2x2 max pool, then optionally ``x + res2(res1(x))``."""

    def __init__(self, in_channels: int, out_channels: int, *, residual: bool) -> None:
        super().__init__()
        self.conv = ConvBNAct(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.residual = residual
        if residual:
            self.res1 = ConvBNAct(out_channels, out_channels)
            self.res2 = ConvBNAct(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv(x))
        return x + self.res2(self.res1(x)) if self.residual else x


class ResNet9(nn.Module):
    """ResNet-9 with stage widths (w, 2w, 4w, 8w), w = ``width`` (64 in the original).

    Gradient-norm groups: "prep", "layer1.conv", "layer1.res1", "layer1.res2", "layer2.conv",
    "layer3.conv", "layer3.res1", "layer3.res2", "head".

    Example:
        >>> net = ResNet9((1, 28, 28), 10, width=8)
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, input_shape: tuple[int, int, int], num_classes: int, *, width: int = 64, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.prep = ConvBNAct(input_shape[0], width)
        self.layer1 = _Stage(width, 2 * width, residual=True)
        self.layer2 = _Stage(2 * width, 4 * width, residual=False)
        self.layer3 = _Stage(4 * width, 8 * width, residual=True)
        self.head = ClassifierHead(8 * width, num_classes, pool="max", dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The 1/8 output scale comes from the DAWNBench net: it keeps early logits small, acting like a
        # lower learning rate for the final layer.
        return self.head(self.layer3(self.layer2(self.layer1(self.prep(x))))) * 0.125
