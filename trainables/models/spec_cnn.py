"""A CNN rendered from a JSON architecture spec (schema and validation in `arch_spec`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from trainables.models.arch_spec import normalize_arch_spec, validate_arch_spec
from trainables.models.blocks import ClassifierHead, ConvBNAct


class SpecBlock(nn.Module):
    """One ``conv`` block of a spec: conv-bn-act, optional shortcut, optional 2x2 pooling."""

    grad_norm_group = True

    def __init__(self, in_channels: int, block: Mapping[str, Any]) -> None:
        super().__init__()
        out, stride = int(block["channels"]), int(block["stride"])
        self.body = ConvBNAct(
            in_channels,
            out,
            kernel=int(block["kernel"]),
            stride=stride,
            batch_norm=bool(block["batch_norm"]),
            activation=block["activation"],
        )
        self.shortcut: nn.Module | None = None
        if block["residual"]:
            same_shape = in_channels == out and stride == 1
            self.shortcut = nn.Identity() if same_shape else nn.Conv2d(in_channels, out, 1, stride=stride)
        pools = {"max": nn.MaxPool2d(2, ceil_mode=True), "avg": nn.AvgPool2d(2, ceil_mode=True)}
        self.pool = pools.get(block["pool"], nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.pool(y)


class SpecCNN(nn.Module):
    """CNN built from an architecture spec.

    Gradient-norm groups: "blocks.<i>" per spec block and "head".

    Example:
        >>> spec = {"blocks": [{"type": "conv", "channels": 8, "pool": "max"}], "head": {"hidden": 16}}
        >>> SpecCNN((1, 8, 8), 10, spec)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        spec: Mapping[str, Any],
        *,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # Re-validate: the spec may come straight from an LLM, through a config nobody checked.
        errors = validate_arch_spec(spec, input_shape=input_shape, num_classes=num_classes)
        if errors:
            raise ValueError("invalid architecture spec:\n" + "\n".join(f"  - {e}" for e in errors))
        spec = normalize_arch_spec(spec)
        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for block in spec["blocks"]:
            blocks.append(SpecBlock(channels, block))
            channels = int(block["channels"])
            for _ in range(int(block["stride"] == 2) + int(block["pool"] != "none")):
                height, width = (height + 1) // 2, (width + 1) // 2
        self.blocks = nn.Sequential(*blocks)
        head = spec["head"]
        features = channels * height * width if head["pool"] == "flatten" else channels
        head_dropout = dropout if head["dropout"] is None else float(head["dropout"])
        self.head = ClassifierHead(
            features,
            num_classes,
            pool=head["pool"],
            hidden=int(head["hidden"]),
            activation=head["activation"],
            dropout=head_dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))
