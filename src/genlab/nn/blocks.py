"""Convolutional building blocks shared by every family (diffusion U-Net, GAN/VAE conv stacks, facies, audio).

All blocks take and return image-like tensors (N, C, H, W). Blocks that accept a conditioning embedding take it
as (N, emb_dim); pass ``emb_dim=0`` to build them without one (GAN/VAE use).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


def num_norm_groups(channels: int, max_groups: int = 32, min_group_size: int = 4) -> int:
    """Number of GroupNorm groups for `channels`: a divisor of `channels`, at most `max_groups`, and (when
    possible) at least `min_group_size` channels per group (so 32 ch → 8 groups, 128 ch → 32 groups)."""
    groups = math.gcd(channels, max_groups)
    while groups > 1 and channels // groups < min_group_size and groups % 2 == 0:
        groups //= 2
    return groups


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the house choice of group count (see `num_norm_groups`)."""
    return nn.GroupNorm(num_norm_groups(channels), channels, eps=1e-5)


def zero_init(module: nn.Module) -> nn.Module:
    """Zero a layer's weights and bias so a residual branch starts as the identity (Goyal et al. 2017; ADM)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """Pre-activation residual block with adaptive GroupNorm conditioning (Dhariwal & Nichol 2021, "AdaGN").

    h = conv(SiLU(GN(x))); h = GN(h) * (1 + scale(emb)) + shift(emb); h = conv(dropout(SiLU(h)));
    out = skip(x) + h, with skip a 1x1 conv when the channel count changes. The last conv is zero-initialised,
    so the block starts as (a projection of) the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int = 0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels) if emb_dim > 0 else None
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = zero_init(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """x (N, C_in, H, W), emb (N, emb_dim) or None → (N, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.norm2(h)
        if self.emb_proj is not None:
            if emb is None:
                raise ValueError("ResBlock was built with emb_dim > 0 but called without an embedding")
            scale, shift = self.emb_proj(F.silu(emb))[:, :, None, None].chunk(2, dim=1)  # (N, C_out, 1, 1) each
            h = h * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, with a residual connection
    (Vaswani et al. 2017; placed at low resolution as in DDPM/ADM). Cost is O((H*W)^2): use at <= 16x16."""

    def __init__(self, channels: int, num_heads: int = 4):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"attention channels ({channels}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """x (N, C, H, W) → (N, C, H, W); `emb` is accepted and ignored so blocks can be chained uniformly."""
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, self.num_heads, c // self.num_heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # each (N, heads, H*W, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 convolution: (N, C, H, W) → (N, C_out, H/2, W/2)."""

    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W (nearest neighbour, then a 3x3 conv to avoid checkerboards; Odena et al. 2016)."""

    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """(N, C, H, W) → (N, C_out, 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
