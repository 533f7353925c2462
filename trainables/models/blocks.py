"""Building blocks shared by the models, and the marker that groups parameters for gradient norms.

A module class with ``grad_norm_group = True`` is reported as ONE entry in ``grad_norm/<path>`` (e.g. a
conv-bn-activation block is "layer1.conv", not "layer1.conv.conv" and "layer1.conv.bn"); modules
without the marker are reported per leaf module. See `trainables.grad_norms`.
"""

from __future__ import annotations

from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (the names of `arch_spec.ACTIVATIONS`).

    Example:
        >>> make_activation("gelu")
        GELU(approximate='none')
    """
    return _ACTIVATIONS[name]()


class ConvBNAct(nn.Sequential):
    """Conv ("same" padding) -> optional BatchNorm -> activation; one gradient-norm group.

    Example:
        >>> [name for name, _ in ConvBNAct(3, 16).named_children()]
        ['conv', 'bn', 'act']
    """

    grad_norm_group = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel: int = 3,
        stride: int = 1,
        batch_norm: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        # A bias right before BatchNorm is cancelled by the mean subtraction: leave it out.
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm
        )
        if batch_norm:
            self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_activation(activation)


class ClassifierHead(nn.Sequential):
    """Global pooling (or flatten) -> optional hidden layer -> dropout -> linear; one gradient-norm group.

    Example:
        >>> ClassifierHead(64, 10, pool="avg")[-1]
        Linear(in_features=64, out_features=10, bias=True)
    """

    grad_norm_group = True

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        pool: str = "avg",
        hidden: int = 0,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = []
        if pool == "avg":
            layers.append(nn.AdaptiveAvgPool2d(1))
        elif pool == "max":
            layers.append(nn.AdaptiveMaxPool2d(1))
        layers.append(nn.Flatten())
        if hidden:
            layers += [nn.Linear(in_features, hidden), make_activation(activation)]
            in_features = hidden
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(in_features, num_classes))
        super().__init__(*layers)
