"""Batched, on-device augmentation: random horizontal flips and small translations (CIFAR-style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flip_translate(images: torch.Tensor, generator: torch.Generator, *, pad: int = 2) -> torch.Tensor:
    """Flip half of the images left-right and shift each by up to ``pad`` pixels (reflect padding).

    All images are processed in one pass with advanced indexing, so there is no per-image Python loop.

    Args:
        images: Float ``(B, C, H, W)`` batch on the generator's device.
        generator: Source of randomness (seeded per epoch by the training loop, for reproducibility).
        pad: Largest shift in pixels.

    Returns:
        The augmented batch, same shape (memory laid out channels-last, which convolutions on CUDA prefer).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> flip_translate(torch.zeros(4, 3, 32, 32), g).shape
        torch.Size([4, 3, 32, 32])
    """
    batch, _, height, width = images.shape
    device = images.device
    flip = torch.rand(batch, device=device, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    shift_y = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
    shift_x = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
    rows = (shift_y[:, None] + torch.arange(height, device=device))[:, :, None]
    cols = (shift_x[:, None] + torch.arange(width, device=device))[:, None, :]
    # Advanced indices around a slice put the indexed dims first: (B, H, W, C); permute back to NCHW.
    picked = padded[torch.arange(batch, device=device)[:, None, None], :, rows, cols]
    return picked.permute(0, 3, 1, 2)
