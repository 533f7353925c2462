"""A small Vision Transformer whose patch size adapts to the input.

Patch embedding (a strided conv) plus learned position embeddings, pre-norm transformer blocks
(``x + attn(norm(x))``, ``x + mlp(norm(x))``), mean pooling over tokens and a linear head. The patch
size is the largest of 8, 4, 2, 1 that divides the image and still leaves at least 36 tokens:
4 for 32x32 (64 tokens) and 28x28 (49 tokens), 1 for 8x8 digits (64 tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_MIN_TOKENS = 36


def patch_size_for(height: int, width: int) -> int:
    """Largest patch size in (8, 4, 2, 1) dividing both sides with >= 36 tokens left.

    Example:
        >>> patch_size_for(28, 28), patch_size_for(32, 32), patch_size_for(8, 8)
        (4, 4, 1)
    """
    for patch in (8, 4, 2):
        if height % patch == 0 and width % patch == 0 and (height // patch) * (width // patch) >= _MIN_TOKENS:
            return patch
    return 1


def heads_for(dim: int) -> int:
    """Most heads in (8, 4, 2, 1) that divide ``dim`` with at least 16 dimensions per head."""
    for heads in (8, 4, 2):
        if dim % heads == 0 and dim // heads >= 16:
            return heads
    return 1


class PatchEmbed(nn.Module):
    """Strided-conv patch projection plus learned position embeddings (one gradient-norm group)."""

    grad_norm_group = True

    def __init__(self, input_shape: tuple[int, int, int], dim: int) -> None:
        super().__init__()
        channels, height, width = input_shape
        patch = patch_size_for(height, width)
        self.proj = nn.Conv2d(channels, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, (height // patch) * (width // patch), dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2) + self.pos


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention (returns the update, not the residual sum)."""

    grad_norm_group = True

    def __init__(self, dim: int, *, dropout: float) -> None:
        super().__init__()
        self.heads = heads_for(dim)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(self.norm(x)).reshape(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class FeedForward(nn.Module):
    """Pre-norm MLP (dim -> 2*dim -> dim) with GELU (returns the update)."""

    grad_norm_group = True

    def __init__(self, dim: int, *, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """``x + attn(x)`` then ``x + mlp(x)``."""

    def __init__(self, dim: int, *, dropout: float) -> None:
        super().__init__()
        self.attn = SelfAttention(dim, dropout=dropout)
        self.mlp = FeedForward(dim, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class _TokenHead(nn.Module):
    grad_norm_group = True

    def __init__(self, dim: int, num_classes: int, *, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.norm(x).mean(dim=1)))


class ViT(nn.Module):
    """Small ViT: ``width``-dim tokens, ``depth`` blocks.

    Gradient-norm groups: "patch_embed", "blocks.<i>.attn", "blocks.<i>.mlp", "head".

    Example:
        >>> net = ViT((1, 8, 8), 10, width=32, depth=2)
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        *,
        width: int = 64,
        depth: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(input_shape, width)
        self.blocks = nn.Sequential(*(TransformerBlock(width, dropout=dropout) for _ in range(depth)))
        self.head = _TokenHead(width, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.patch_embed(x)))
