"""Model zoo of the image trainable: one file per model, `build_model` to pick one by config.

This package's namespace stays torch-free (the config imports the spec schema from `arch_spec`); the
model modules import torch when `build_model` needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from trainables.config import TrainConfig


def build_model(config: TrainConfig) -> nn.Module:
    """Instantiate the configured model for the configured data set (on the CPU, in float32).

    Args:
        config: A validated config; `width`/`depth` None select each model's default.

    Returns:
        The freshly initialized model.

    Example:
        >>> from trainables.config import TrainConfig
        >>> build_model(TrainConfig(dataset="digits", model="flawed_cnn")).fc.in_features
        1024
    """
    from trainables.config import NUM_CLASSES

    shape, dropout = config.input_shape, config.dropout
    if config.model == "flawed_cnn":
        from trainables.models.flawed_cnn import FlawedCNN

        return FlawedCNN(shape, NUM_CLASSES, width=config.width or 16, dropout=dropout)
    if config.model == "resnet9":
        from trainables.models.resnet9 import ResNet9

        return ResNet9(shape, NUM_CLASSES, width=config.width or 64, dropout=dropout)
    if config.model == "vit":
        from trainables.models.vit import ViT

        return ViT(shape, NUM_CLASSES, width=config.width or 64, depth=config.depth or 4, dropout=dropout)
    if config.model == "code":
        from trainables.models.code_model import build_code_model

        assert config.arch_code is not None  # TrainConfig requires it for model "code"
        return build_code_model(config.arch_code, shape, NUM_CLASSES)
    from trainables.models.spec_cnn import SpecCNN

    assert config.arch is not None  # TrainConfig fills in the default spec for spec_cnn
    return SpecCNN(shape, NUM_CLASSES, config.arch, dropout=dropout)
