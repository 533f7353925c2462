"""The deliberately flawed CNN of the AWS blog post on LLM-guided tuning.

One 3x3 convolution (16 channels), a sigmoid, no pooling, and one linear layer on the flattened map
(16 * 32 * 32 = 16384 inputs for CIFAR-10). The sigmoid and the huge linear layer make it train badly;
it exists so a tuner (and the gradient-norm diagnostics) has something obviously wrong to find.
"""

from __future__ import annotations

import torch
from torch import nn


class FlawedCNN(nn.Module):
    """conv(in -> width, 3x3, same) -> sigmoid -> flatten -> [dropout] -> linear(width*H*W -> classes).

    Gradient-norm groups: "conv" and "fc".

    Example:
        >>> FlawedCNN((3, 32, 32), 10).fc.in_features
        16384
    """

    def __init__(
        self, input_shape: tuple[int, int, int], num_classes: int, *, width: int = 16, dropout: float = 0.0
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        self.conv = nn.Conv2d(channels, width, 3, padding=1)
        self.act = nn.Sigmoid()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(width * height * width_px, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.act(self.conv(x)), 1)))
