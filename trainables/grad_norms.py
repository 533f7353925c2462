"""Per-module gradient norms accumulated on the device, read back once per report.

Parameters are grouped by module path: a module whose class sets ``grad_norm_group = True`` (see
`trainables.models.blocks`) is one group named by its path ("layer1.conv", "head"); any other parameter
belongs to its own leaf module's path ("conv", "fc"); a parameter held directly by the root module is
named after itself. Each step computes every group's L2 norm and the global norm with one fused
``_foreach_norm`` and adds them into device buffers, so training never waits on the host.
"""

from __future__ import annotations

import torch
from torch import nn


def grad_norm_groups(model: nn.Module) -> dict[str, list[str]]:
    """Map group name -> names of the trainable parameters in it (in `named_parameters` order).

    Example:
        >>> from trainables.models.flawed_cnn import FlawedCNN
        >>> grad_norm_groups(FlawedCNN((1, 8, 8), 10))
        {'conv': ['conv.weight', 'conv.bias'], 'fc': ['fc.weight', 'fc.bias']}
    """
    groups: dict[str, list[str]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        parts = name.split(".")[:-1]
        group = ".".join(parts) or name
        for depth in range(1, len(parts) + 1):
            path = ".".join(parts[:depth])
            if getattr(model.get_submodule(path), "grad_norm_group", False):
                group = path  # the outermost marked ancestor wins
                break
        groups.setdefault(group, []).append(name)
    return groups


class GradNormTracker:
    """Accumulates per-group and global gradient L2 norms over the steps of one epoch.

    Call `update` after ``backward()`` (before clipping) each step; once per report, fold `stats` into
    the report's single host copy (keys from `metric_names`) and `reset`.
    Statistics live in two device tensors ``[total, group_1, ..., group_G]``: the running sum (for the
    mean) and the running max.

    Example:
        >>> from trainables.models.flawed_cnn import FlawedCNN
        >>> model = FlawedCNN((1, 8, 8), 10)
        >>> tracker = GradNormTracker(model)
        >>> model(torch.randn(2, 1, 8, 8)).sum().backward()
        >>> total = tracker.update()
        >>> dict(zip(tracker.metric_names(), tracker.stats().flatten().tolist()))["grad_norm/total"] > 0
        True
    """

    def __init__(self, model: nn.Module) -> None:
        groups = grad_norm_groups(model)
        named = dict(model.named_parameters())
        self.group_names = list(groups)
        self.params = [named[name] for names in groups.values() for name in names]
        device = self.params[0].device
        index = [i for i, names in enumerate(groups.values()) for _ in names]
        self._index = torch.tensor(index, device=device)
        # A parameter that got no gradient this step counts as zero (shared, never written to).
        self._zero = torch.zeros((), device=device)
        self._sum = torch.zeros(len(groups) + 1, device=device)
        self._max = torch.zeros(len(groups) + 1, device=device)
        self.steps = 0

    def update(self) -> torch.Tensor:
        """Add this step's norms to the running statistics; return the global norm (0-d, on device)."""
        grads = [p.grad if p.grad is not None else self._zero for p in self.params]
        squares = torch.stack(torch._foreach_norm(grads)).float().square()
        group_squares = torch.zeros(len(self.group_names), device=squares.device).index_add_(0, self._index, squares)
        norms = torch.cat([group_squares.sum().reshape(1), group_squares]).sqrt()
        self._sum += norms
        torch.maximum(self._max, norms, out=self._max)
        self.steps += 1
        return norms[0]

    def stats(self) -> torch.Tensor:
        """Device tensor ``(2, G + 1)``: mean and max over the steps so far (total first).

        The training loop concatenates this with its other device metrics so one host copy serves
        the whole report.
        """
        return torch.stack([self._sum / max(self.steps, 1), self._max])

    def reset(self) -> None:
        """Start a new accumulation window (the next epoch)."""
        self._sum.zero_()
        self._max.zero_()
        self.steps = 0

    def metric_names(self) -> list[str]:
        """Report keys in the order of ``stats().flatten()``."""
        names = ["total", *self.group_names]
        return [f"grad_norm/{n}" for n in names] + [f"grad_norm/{n}/max" for n in names]
