"""Optimizer and learning-rate schedule factories for the image trainable.

Schedules step once per optimizer step (not per epoch), so warm-up works even for one-epoch runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from trainables.config import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer (weight decay applies to every parameter).

    Example:
        >>> cfg = TrainConfig(dataset="digits", optimizer="adamw", learning_rate=1e-3)
        >>> type(build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)).__name__
        'AdamW'
    """
    lr, wd = config.learning_rate, config.weight_decay
    name = config.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if name in ("sgd_momentum", "sgd_nesterov"):
        return torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, nesterov=name == "sgd_nesterov", weight_decay=wd
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)


def schedule_factor(schedule: str, total_steps: int, warmup_fraction: float = 0.1) -> Callable[[int], float]:
    """Multiplier of the peak learning rate as a function of the step index (0-based).

    Args:
        schedule: "constant", "step", "cosine" or "warmup_cosine".
        total_steps: Steps of the whole run.
        warmup_fraction: Share of the steps for the linear warm-up of "warmup_cosine".

    Example:
        >>> f = schedule_factor("warmup_cosine", 100, 0.1)
        >>> round(f(0), 2), f(9), round(f(99), 4)
        (0.1, 1.0, 0.0003)
    """
    total = max(total_steps, 1)
    if schedule == "constant":
        return lambda step: 1.0
    if schedule == "step":
        return lambda step: 0.1 ** ((step >= 0.5 * total) + (step >= 0.75 * total))

    def cosine(step: int, start: int) -> float:
        progress = min(1.0, (step - start) / max(total - start, 1))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    if schedule == "cosine":
        return lambda step: cosine(step, 0)
    warmup = max(1, round(warmup_fraction * total)) if warmup_fraction > 0 else 0
    return lambda step: (step + 1) / warmup if step < warmup else cosine(step, warmup)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> LambdaLR:
    """A per-step `LambdaLR` implementing ``config.schedule`` over ``epochs * steps_per_epoch`` steps.

    Example:
        >>> cfg = TrainConfig(dataset="digits", schedule="step", learning_rate=1.0, epochs=4)
        >>> opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
        >>> build_scheduler(opt, cfg, steps_per_epoch=10).get_last_lr()
        [1.0]
    """
    factor = schedule_factor(config.schedule, config.epochs * steps_per_epoch, config.warmup_fraction)
    return LambdaLR(optimizer, factor)


def apply_hyperparameters(optimizer: torch.optim.Optimizer, scheduler: LambdaLR, config: TrainConfig) -> None:
    """Overwrite restored optimizer hyperparameters with the config's.

    `load_state_dict` brings back the checkpoint's learning rate, momentum and weight decay; a scheduler
    such as PBT restores a checkpoint under a *mutated* config, and the new values must win.
    """
    for group in optimizer.param_groups:
        group["weight_decay"] = config.weight_decay
        group["initial_lr"] = config.learning_rate
        if config.optimizer in ("sgd_momentum", "sgd_nesterov"):
            group["momentum"] = config.momentum
    scheduler.base_lrs = [config.learning_rate for _ in optimizer.param_groups]
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for group in optimizer.param_groups:
        group["lr"] = config.learning_rate * factor
