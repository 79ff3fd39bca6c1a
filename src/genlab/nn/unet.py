"""A time- and class-conditional U-Net (Ronneberger et al. 2015; DDPM, Ho et al. 2020; ADM, Dhariwal & Nichol 2021).

The network knows nothing about noise schedules: it maps an image and a float "noise condition" (whatever the
objective chooses, e.g. a timestep in [0, 1000)) and optional class labels to an image of `out_channels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genlab.errors import GenlabError
from genlab.nn.blocks import Downsample, ResBlock, SelfAttention2d, Upsample, group_norm, zero_init
from genlab.nn.embeddings import TimestepEmbedding


def level_sizes(image_size: int | Sequence[int], num_levels: int) -> list[tuple[int, int]]:
    """(H, W) at each of `num_levels` resolutions (each half the previous); GenlabError if a size is odd."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    sizes = [(h, w)]
    for _ in range(num_levels - 1):
        if h % 2 or w % 2:
            raise GenlabError(
                f"U-Net: image size {sizes[0][0]}x{sizes[0][1]} cannot be halved {num_levels - 1} times "
                f"(channel_mults has {num_levels} levels; got odd size {h}x{w}); use fewer levels or a size "
                f"divisible by {2 ** (num_levels - 1)}"
            )
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes


def _check_widths(base_channels: int, channel_mults: Sequence[int]) -> None:
    """GenlabError for levels that cannot be built."""
    if base_channels < 1 or not channel_mults or min(channel_mults) < 1:
        raise GenlabError(f"U-Net: need base_channels >= 1 and positive channel_mults, got {base_channels}, "
                          f"{list(channel_mults)}")


def _check_heads(widths: Sequence[int], sizes: Sequence[tuple[int, int]], attn_res: Sequence[int], heads: int) -> None:
    """GenlabError unless `heads` divides the width of every level that has attention."""
    attn_widths = [w for w, s in zip(widths, sizes) if min(s) in attn_res]
    if attn_widths and (heads < 1 or any(w % heads for w in attn_widths)):
        raise GenlabError(f"U-Net: num_heads={heads} must divide the widths {attn_widths} of the levels with attention")


def _run_layers(layers: nn.ModuleList, h: Tensor, emb: Tensor) -> Tensor:
    for layer in layers:
        h = layer(h, emb)
    return h


class UNet(nn.Module):
    """U-Net with AdaGN residual blocks, self-attention at chosen resolutions and classifier-free-guidance labels.

    Args:
        in_channels, out_channels: image channels in and out.
        base_channels: width of the first level; level i has ``base_channels * channel_mults[i]`` channels.
        channel_mults: one multiplier per resolution level; the image is halved between levels.
        num_res_blocks: residual blocks per level on the way down (the way up has one more, as in ADM).
        attention_resolutions: feature-map sizes (min(H, W)) at which self-attention follows each block
            (the middle block too when the lowest resolution is listed); () for no attention at all.
        num_classes: 0 for unconditional; otherwise the class table has ``num_classes + 1`` rows and row
            ``num_classes`` is the "null" class used for classifier-free guidance (Ho & Salimans 2022).
        dropout: dropout inside residual blocks.
        image_size: H (= W) or (H, W) of the inputs; fixes where attention sits and is checked in `forward`.
        num_heads: attention heads.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attention_resolutions: Sequence[int] = (7,),
        num_classes: int = 0,
        dropout: float = 0.0,
        image_size: int | Sequence[int] = 28,
        num_heads: int = 4,
    ):
        super().__init__()
        _check_widths(base_channels, channel_mults)
        self.sizes = level_sizes(image_size, len(channel_mults))
        self.num_classes = int(num_classes)
        emb_dim = 4 * base_channels
        self.time_embed = TimestepEmbedding(base_channels, emb_dim)
        # Row `num_classes` is the null label (classifier-free guidance); unconditional nets have no table.
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        widths = [base_channels * m for m in channel_mults]
        _check_heads(widths, self.sizes, attention_resolutions, num_heads)
        self.down, skip_widths = self._build_down(widths, num_res_blocks, attention_resolutions, emb_dim, dropout, num_heads)
        mid = widths[-1]
        # The middle block attends only if the lowest resolution is listed: attention at 32x32 (a 128 px input
        # with 3 levels) costs 1024^2 per head and image, so it must be asked for.
        mid_attn = [SelfAttention2d(mid, num_heads)] if min(self.sizes[-1]) in attention_resolutions else []
        self.mid = nn.ModuleList([ResBlock(mid, mid, emb_dim, dropout), *mid_attn, ResBlock(mid, mid, emb_dim, dropout)])
        self.up = self._build_up(widths, num_res_blocks, attention_resolutions, emb_dim, dropout, num_heads, skip_widths)
        self.norm_out = group_norm(base_channels)
        self.conv_out = zero_init(nn.Conv2d(base_channels, out_channels, 3, padding=1))
        # Activation checkpointing (train.activation_checkpointing): in training with gradients on, each stage's
        # activations are recomputed in the backward pass instead of kept (torch.utils.checkpoint, non-reentrant,
        # RNG state restored so dropout draws the same mask): the same gradients for less memory.
        self.checkpointing = False

    def _build_down(self, widths, num_res_blocks, attn_res, emb_dim, dropout, num_heads):
        """Encoder: per level `num_res_blocks` (ResBlock [+ attention]) then a Downsample; every stage is a skip."""
        stages, skip_widths, ch = nn.ModuleList(), [widths[0]], widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                stage = [ResBlock(ch, width, emb_dim, dropout)]
                if min(self.sizes[level]) in attn_res:
                    stage.append(SelfAttention2d(width, num_heads))
                stages.append(nn.ModuleList(stage))
                ch = width
                skip_widths.append(ch)
            if level < len(widths) - 1:
                stages.append(nn.ModuleList([Downsample(ch)]))
                skip_widths.append(ch)
        return stages, skip_widths

    def _build_up(self, widths, num_res_blocks, attn_res, emb_dim, dropout, num_heads, skip_widths):
        """Decoder: per level `num_res_blocks + 1` ResBlocks, each eating one skip, then an Upsample."""
        stages, ch, skips = nn.ModuleList(), widths[-1], list(skip_widths)
        for level in reversed(range(len(widths))):
            for block in range(num_res_blocks + 1):
                stage = [ResBlock(ch + skips.pop(), widths[level], emb_dim, dropout)]
                ch = widths[level]
                if min(self.sizes[level]) in attn_res:
                    stage.append(SelfAttention2d(ch, num_heads))
                if level > 0 and block == num_res_blocks:
                    # Upsample straight to the next level's width: the conv then runs at the high resolution
                    # with fewer channels (~12% fewer FLOPs at 28x28 than keeping this level's width).
                    stage.append(Upsample(ch, widths[level - 1]))
                    ch = widths[level - 1]
                stages.append(nn.ModuleList(stage))
        return stages

    def embed(self, noise_cond: Tensor, class_labels: Tensor | None) -> Tensor:
        """(N,) float noise condition and (N,) long labels (or None = null class) → (N, emb_dim)."""
        emb = self.time_embed(noise_cond)
        if self.class_embed is None:
            if class_labels is not None:
                raise GenlabError("U-Net: class labels given to an unconditional model (num_classes=0)")
            return emb
        if class_labels is None:
            class_labels = torch.full_like(noise_cond, self.num_classes, dtype=torch.long)
        return emb + self.class_embed(class_labels)

    def _stage(self, layers: nn.ModuleList, h: Tensor, emb: Tensor) -> Tensor:
        """The layers of one stage in order, checkpointed when `checkpointing` is on and gradients are needed."""
        if self.checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(_run_layers, layers, h, emb, use_reentrant=False)
        return _run_layers(layers, h, emb)

    def forward(self, x: Tensor, noise_cond: Tensor, class_labels: Tensor | None = None) -> Tensor:
        """x (N, C_in, H, W), noise_cond (N,) float, class_labels (N,) long or None → (N, C_out, H, W)."""
        if tuple(x.shape[-2:]) != self.sizes[0]:
            raise GenlabError(f"U-Net built for {self.sizes[0][0]}x{self.sizes[0][1]} inputs, got "
                              f"{x.shape[-2]}x{x.shape[-1]}")
        emb = self.embed(noise_cond, class_labels)
        # channels_last makes oneDNN (CPU) and cuDNN (tensor cores) convolutions ~1.3-1.5x faster; GroupNorm,
        # SiLU and attention all support it, so the whole network follows the input's layout.
        h = self.conv_in(x).contiguous(memory_format=torch.channels_last)  # (N, C0, H, W); C_in=1 has no layout
        skips = [h]
        for stage in self.down:
            h = self._stage(stage, h, emb)
            skips.append(h)
        h = self._stage(self.mid, h, emb)
        for stage in self.up:
            h = self._stage(stage, torch.cat([h, skips.pop()], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h))).contiguous()


def check_unet_options(cfg, family: str) -> None:
    """One-line GenlabError for a U-Net option of a family config (base_channels, num_res_blocks, num_heads,
    channel_mults, dropout) out of range; shared by every family whose config carries those fields."""
    for name, high in (("base_channels", 1 << 16), ("num_res_blocks", 16), ("num_heads", 64)):
        if not 1 <= getattr(cfg, name) <= high:
            raise GenlabError(f"{family}: option '{name}' = {getattr(cfg, name)} must be in 1..{high}")
    if not 1 <= len(cfg.channel_mults) <= 8 or not all(1 <= m <= 64 for m in cfg.channel_mults):
        raise GenlabError(f"{family}: channel_mults = {cfg.channel_mults}: expected 1-8 integers in 1..64")
    if not 0.0 <= cfg.dropout < 1.0:
        raise GenlabError(f"{family}: dropout must be in [0, 1), got {cfg.dropout}")


def unet_from_config(cfg, image_shape: Sequence[int], num_classes: int) -> UNet:
    """The U-Net a family config describes, image (C, H, W) to the same shape."""
    c, h, w = image_shape
    return UNet(in_channels=c, out_channels=c, base_channels=cfg.base_channels,
                channel_mults=tuple(cfg.channel_mults), num_res_blocks=cfg.num_res_blocks,
                attention_resolutions=tuple(cfg.attention_resolutions), num_classes=num_classes,
                dropout=cfg.dropout, image_size=(h, w), num_heads=cfg.num_heads)
