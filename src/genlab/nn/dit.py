"""A small Diffusion Transformer (DiT; Peebles & Xie 2023, "Scalable Diffusion Models with Transformers").

The alternative to `genlab.nn.unet.UNet` behind the same call, ``net(x, noise_cond, class_labels) -> out``:

    x (N, C, H, W) --patchify--> (N, L, D) tokens, L = (H/p)(W/p), + position embedding (2-D sin-cos or learned)
    c = time_embed(noise_cond) + class_embed(label)            (row `num_classes` = the null class of CFG)
    depth x DiTBlock:  h += gate1(c) * Attn(LN(h) * (1 + scale1(c)) + shift1(c))
                       h += gate2(c) * MLP (LN(h) * (1 + scale2(c)) + shift2(c))     (adaLN-Zero)
    final: LN(h) * (1 + scale(c)) + shift(c) -> Linear(D, p*p*C_out) --unpatchify--> (N, C_out, H, W)

adaLN-Zero: every block's modulation layer (the six shift/scale/gate vectors) starts at zero, so every block
starts as the identity; the final layer starts at zero too, so an untrained DiT outputs 0, as the U-Net's
zero-initialised last convolution does. The network knows nothing about noise schedules (see the U-Net).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genlab.errors import GenlabError
from genlab.nn.blocks import zero_init
from genlab.nn.embeddings import TimestepEmbedding

POS_EMBEDS = ("sincos", "learned")


def sincos_2d(height: int, width: int, dim: int) -> Tensor:
    """Fixed 2-D sine-cosine position embedding (MAE / DiT): half the channels encode the row, half the column;
    (height * width, dim) float32, rows in raster order. `dim` must be a multiple of 4."""
    if dim % 4:
        raise GenlabError(f"DiT: width {dim} must be a multiple of 4 for the 2-D sin-cos position embedding")
    quarter = dim // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (dim/4,)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                                indexing="ij")
    parts = []
    for pos in (rows.flatten(), cols.flatten()):
        args = pos[:, None] * freqs[None]  # (L, dim/4)
        parts += [torch.sin(args), torch.cos(args)]
    return torch.cat(parts, dim=1).float()


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x (N, L, D) normalised, shifted and scaled per sample by (N, D) vectors."""
    return x * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    """Multi-head self-attention over tokens (N, L, D) with one fused qkv projection."""

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, L, D/heads)
        return self.proj(out.transpose(1, 2).reshape(n, length, width))


class DiTBlock(nn.Module):
    """Pre-LN transformer block whose LayerNorms are modulated by the condition c (N, D), adaLN-Zero."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = round(width * mlp_ratio)
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Dropout(dropout),
                                 nn.Linear(hidden, width))
        # shift/scale/gate for attention and MLP; zero so the block starts as the identity (adaLN-Zero)
        self.ada = nn.Sequential(nn.SiLU(), zero_init(nn.Linear(width, 6 * width)))

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=1)
        h = h + gate1[:, None] * self.attn(modulate(self.norm1(h), shift1, scale1))
        return h + gate2[:, None] * self.mlp(modulate(self.norm2(h), shift2, scale2))


class DiT(nn.Module):
    """Diffusion Transformer for images (N, C, H, W) with a float noise condition and optional class labels.

    Args:
        in_channels, out_channels: image channels in and out.
        image_size: H (= W) or (H, W); both must be divisible by `patch_size`.
        patch_size: side p of the square patches that become tokens (L = HW / p^2 tokens).
        width: token width D; depth: number of DiT blocks; num_heads: attention heads (must divide D).
        mlp_ratio: MLP hidden width / D.
        num_classes: 0 for unconditional; otherwise the class table has ``num_classes + 1`` rows and row
            ``num_classes`` is the null class for classifier-free guidance (as in the U-Net).
        dropout: dropout inside the MLPs.
        pos_embed: "sincos" (fixed 2-D sine-cosine, DiT's choice) or "learned" (a trained table, init N(0, 0.02)).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, image_size: int | Sequence[int] = 28,
                 patch_size: int = 2, width: int = 128, depth: int = 6, num_heads: int = 4, mlp_ratio: float = 4.0,
                 num_classes: int = 0, dropout: float = 0.0, pos_embed: str = "sincos"):
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
        check_dit_shape((h, w), patch_size, width, num_heads, pos_embed)
        self.size, self.patch_size, self.out_channels = (h, w), patch_size, out_channels
        self.grid = (h // patch_size, w // patch_size)
        self.num_classes = int(num_classes)
        # patchify = a conv with kernel = stride = p (a linear map of each flattened patch); named like the
        # U-Net's first layer so code that asks a backbone for its device finds it the same way
        self.conv_in = nn.Conv2d(in_channels, width, patch_size, stride=patch_size)
        table = sincos_2d(*self.grid, width)
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.randn_like(table) * 0.02)
        else:
            self.register_buffer("pos_embed", table, persistent=False)  # rebuilt from the shape, never stored
        self.time_embed = TimestepEmbedding(min(width, 256), width)
        self.class_embed = nn.Embedding(num_classes + 1, width) if num_classes > 0 else None
        self.blocks = nn.ModuleList(DiTBlock(width, num_heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), zero_init(nn.Linear(width, 2 * width)))
        self.linear_out = zero_init(nn.Linear(width, patch_size * patch_size * out_channels))
        self.checkpointing = False  # train.activation_checkpointing: recompute each block in backward
        self._init_weights()

    def _init_weights(self) -> None:
        """Xavier-uniform linear layers and patch projection (as DiT); the adaLN and output layers stay zero."""
        for block in self.blocks:  # no data-dependent test here: loading builds the model on the meta device
            for layer in (block.attn.qkv, block.attn.proj, block.mlp[0], block.mlp[3]):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        nn.init.xavier_uniform_(self.conv_in.weight.view(self.conv_in.weight.shape[0], -1))
        nn.init.zeros_(self.conv_in.bias)

    def embed(self, noise_cond: Tensor, class_labels: Tensor | None) -> Tensor:
        """(N,) float noise condition and (N,) long labels (or None = null class) → condition c (N, D)."""
        c = self.time_embed(noise_cond)
        if self.class_embed is None:
            if class_labels is not None:
                raise GenlabError("DiT: class labels given to an unconditional model (num_classes=0)")
            return c
        if class_labels is None:
            class_labels = torch.full_like(noise_cond, self.num_classes, dtype=torch.long)
        return c + self.class_embed(class_labels)

    def patchify(self, x: Tensor) -> Tensor:
        """(N, C, H, W) → tokens (N, L, D) with their position embedding."""
        return self.conv_in(x).flatten(2).transpose(1, 2) + self.pos_embed.to(x.dtype)

    def unpatchify(self, tokens: Tensor) -> Tensor:
        """(N, L, p*p*C_out) → (N, C_out, H, W): token (i, j) fills the p x p patch at row i, column j."""
        n, p, (gh, gw) = tokens.shape[0], self.patch_size, self.grid
        x = tokens.reshape(n, gh, gw, p, p, self.out_channels)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(n, self.out_channels, gh * p, gw * p)

    def forward(self, x: Tensor, noise_cond: Tensor, class_labels: Tensor | None = None) -> Tensor:
        """x (N, C_in, H, W), noise_cond (N,) float, class_labels (N,) long or None → (N, C_out, H, W)."""
        if tuple(x.shape[-2:]) != self.size:
            raise GenlabError(f"DiT built for {self.size[0]}x{self.size[1]} inputs, got {x.shape[-2]}x{x.shape[-1]}")
        c = self.embed(noise_cond, class_labels)
        h = self.patchify(x)
        recompute = self.checkpointing and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            h = checkpoint(block, h, c, use_reentrant=False) if recompute else block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=1)
        return self.unpatchify(self.linear_out(modulate(self.norm_out(h), shift, scale)))


def check_dit_shape(size: tuple[int, int], patch_size: int, width: int, num_heads: int, pos_embed: str) -> None:
    """One-line GenlabError unless a DiT of these options can be built for images of `size` (H, W)."""
    if pos_embed not in POS_EMBEDS:
        raise GenlabError(f"DiT: pos_embed = {pos_embed!r:.40} is not one of {', '.join(POS_EMBEDS)}")
    if patch_size < 1 or size[0] % patch_size or size[1] % patch_size:
        raise GenlabError(f"DiT: patch size {patch_size} must divide the input size {size[0]}x{size[1]}")
    if num_heads < 1 or width % num_heads:
        raise GenlabError(f"DiT: num_heads = {num_heads} must divide the width {width}")
    if width % 4:
        raise GenlabError(f"DiT: width {width} must be a multiple of 4 (2-D position embedding)")


def check_dit_options(cfg, family: str) -> None:
    """One-line GenlabError for a DiT option of a family config (dit_patch_size, dit_width, dit_depth,
    dit_mlp_ratio, dit_pos_embed; heads and dropout are the config's num_heads and dropout)."""
    for name, high in (("dit_patch_size", 64), ("dit_width", 4096), ("dit_depth", 64)):
        if not 1 <= getattr(cfg, name) <= high:
            raise GenlabError(f"{family}: option '{name}' = {getattr(cfg, name)} must be in 1..{high}")
    if not 0.25 <= cfg.dit_mlp_ratio <= 16:
        raise GenlabError(f"{family}: option 'dit_mlp_ratio' = {cfg.dit_mlp_ratio} must be in [0.25, 16]")
    if cfg.dit_pos_embed not in POS_EMBEDS:
        raise GenlabError(f"{family}: option 'dit_pos_embed' = {cfg.dit_pos_embed!r:.40} is not one of "
                          f"{', '.join(POS_EMBEDS)}")
    if not 1 <= cfg.num_heads <= 64 or cfg.dit_width % cfg.num_heads:
        raise GenlabError(f"{family}: num_heads = {cfg.num_heads} must divide dit_width = {cfg.dit_width}")
    if cfg.dit_width % 4:
        raise GenlabError(f"{family}: option 'dit_width' = {cfg.dit_width} must be a multiple of 4")
    if not 0.0 <= cfg.dropout < 1.0:
        raise GenlabError(f"{family}: dropout must be in [0, 1), got {cfg.dropout}")


def dit_from_config(cfg, image_shape: Sequence[int], num_classes: int) -> DiT:
    """The DiT a family config describes, image (C, H, W) to the same shape; GenlabError naming the option when
    the patch size does not divide the image."""
    c, h, w = image_shape
    if h % cfg.dit_patch_size or w % cfg.dit_patch_size:
        raise GenlabError(f"diffusion: dit_patch_size = {cfg.dit_patch_size} must divide the input size {h}x{w}")
    return DiT(in_channels=c, out_channels=c, image_size=(h, w), patch_size=cfg.dit_patch_size, width=cfg.dit_width,
               depth=cfg.dit_depth, num_heads=cfg.num_heads, mlp_ratio=cfg.dit_mlp_ratio, num_classes=num_classes,
               dropout=cfg.dropout, pos_embed=cfg.dit_pos_embed)

