"""The deliberately flawed CNN of the AWS blog post on LLM-guided tuning.

One 3x3 convolution (16 channels), a sigmoid, no pooling, and one linear layer on the flattened map
(16 * 32 * 32 = 16384 inputs for CIFAR-10). The sigmoid and the huge linear layer make it train badly;
it exists so a tuner (and the gradient-norm diagnostics) has something obviously wrong to find.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# The AWS experiment's starting point: this network, trained with SGD at 0.1 without momentum.
AWS_START = {"model": "flawed_cnn", "optimizer": "sgd", "learning_rate": 0.1}
# What it is, in a line, for an LLM asked to redesign it.
DESCRIPTION = (
    "the flawed CNN as given: one 3x3 conv with 16 channels, a sigmoid, no pooling, then one linear "
    "layer on the flattened map"
)


def aws_trial_settings(
    dataset: str,
    *,
    epochs: int,
    max_train_batches: int | None,
    max_eval_batches: int | None,
    seed: int,
    device: str = "cpu",
    data_dir: str | None = None,
) -> dict[str, Any]:
    """The fixed part of every trial config in the AWS experiments (experiments/flawed_cnn, supervised_cnn):
    equal epochs, batch 128, a constant schedule and a test-set evaluation after the last epoch.

    Example:
        >>> aws_trial_settings("digits", epochs=3, max_train_batches=0, max_eval_batches=20, seed=0)["epochs"]
        3
    """
    settings: dict[str, Any] = {
        "dataset": dataset,
        "device": device,
        "epochs": epochs,
        "batch_size": 128,
        "schedule": "constant",
        "seed": seed,
        "final_test": True,
        "max_eval_batches": max_eval_batches,
    }
    if max_train_batches:  # 0 or None: whole epochs
        settings["max_train_batches"] = max_train_batches
    if data_dir:
        settings["data_dir"] = data_dir
    return settings


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
