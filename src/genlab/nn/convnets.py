"""Convolutional encoder/decoder stacks shared by the GAN, VAE and autoencoder families.

Three architectures, chosen by name everywhere (``architecture=...``):

- ``"conv_dense"`` — the GeoFacies_DL / DCGAN design: stride-2 convs → flatten → ``nn.Linear`` → latent *vector*
  (N, D); the decoder mirrors it: ``nn.Linear`` → reshape → transposed convs.
- ``"fully_conv"`` — no ``nn.Linear`` anywhere: the latent is a spatial *map* (N, C_z, h, w) at the encoder's
  lowest resolution, as in the spatial GAN of Jetchev, Bergmann & Vollgraf (2016, "SGAN"). A larger latent map
  decodes to a larger image.
- ``"mlp"`` — no convolutions: flatten → dense layers (``hidden_sizes``, ``activation``; genlab.nn.mlp) → latent
  *vector* (N, D), the MNIST networks of Kingma & Welling (2014) and Burda et al. (2016); the decoder mirrors it.

Sizes work for any H, W (28×28 digits, 45/64/128 facies): every stride-2 conv (k=4, s=2, p=1) maps a side s to
floor(s/2) and the matching transposed conv restores it exactly with ``output_padding = s mod 2``.
Layouts: images (N, C, H, W); class embeddings (N, E).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from genlab.nn.mlp import MLPStack

ARCHITECTURES = ("conv_dense", "fully_conv", "mlp")
NORMS = ("group", "layer", "batch", "none")
UPSAMPLES = ("transpose", "nearest")


# --- sizes and small factories ------------------------------------------------------------------------------------
def auto_num_down(height: int, width: int, min_size: int = 4) -> int:
    """Number of stride-2 halvings that keeps the smaller side >= `min_size` (28→7: 2; 64→4: 4; 128→4: 5)."""
    n = 0
    while min(height, width) // 2 >= min_size:
        height, width, n = height // 2, width // 2, n + 1
    return n


def feature_sizes(height: int, width: int, num_down: int) -> list[tuple[int, int]]:
    """Spatial size at every level: [(H, W), (H//2, W//2), ...], `num_down` + 1 entries."""
    sizes = [(height, width)]
    for _ in range(num_down):
        h, w = sizes[-1]
        if min(h, w) < 2:
            raise ValueError(f"cannot halve a {height}x{width} image {num_down} times")
        sizes.append((h // 2, w // 2))
    return sizes


def level_channels(base_channels: int, max_channels: int, num_down: int) -> list[int]:
    """Channels at every level: base, 2·base, 4·base, ... capped at `max_channels` (num_down + 1 entries)."""
    return [min(base_channels * 2**i, max_channels) for i in range(num_down + 1)]


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation by name. "group": GroupNorm with <= 8 groups; "layer": GroupNorm(1, C) (per-sample, used in
    WGAN-GP critics where batch statistics would break the per-sample gradient penalty); "batch"; "none"."""
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap `layer` in spectral normalisation (Miyato et al. 2018) when `enabled`."""
    return _spectral_norm(layer) if enabled else layer


def concat_condition(h: Tensor, emb: Tensor | None) -> Tensor:
    """Append a class embedding (N, E) to a vector (N, D) → (N, D+E) or to a map (N, C, h, w) → (N, C+E, h, w)."""
    if emb is None:
        return h
    if h.dim() == 2:
        return torch.cat([h, emb], dim=1)
    return torch.cat([h, emb[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], dim=1)


# --- the two conv stacks ------------------------------------------------------------------------------------------
class ConvEncoder(nn.Module):
    """(N, C_in, H, W) → (N, C_last, h, w): a 3×3 stem, then `num_down` blocks of [conv 4×4 stride 2, norm,
    LeakyReLU(0.2)] (Radford et al. 2016, DCGAN discriminator)."""

    def __init__(self, in_channels: int, channels: Sequence[int], norm: str = "group", spectral_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [maybe_sn(nn.Conv2d(in_channels, channels[0], 3, padding=1), spectral_norm),
                                   nn.LeakyReLU(0.2)]
        for c_in, c_out in pairwise(channels):
            layers += [maybe_sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), spectral_norm),
                       make_norm(norm, c_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)
        self.out_channels = channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def upsample_block(c_in: int, c_out: int, size_in: tuple[int, int], size_out: tuple[int, int],
                   upsample: str) -> list[nn.Module]:
    """The layers that take (N, c_in, *size_in) to (N, c_out, *size_out), size_out = 2·size_in (+1 on an odd side).

    "transpose": a transposed conv 4×4 stride 2 (DCGAN). Each output pixel takes its taps from one of four 2×2
    sub-kernels, chosen by its row and column parity; unless the four sum alike, a flat input decodes to a period-2
    pattern — the classic source of checkerboard artefacts (Odena, Dumoulin & Olah 2016, "Deconvolution and
    checkerboard artifacts"). "nearest": a nearest-neighbour resize to `size_out`, then a 3×3 conv — every output
    pixel applies the same kernel, Odena et al.'s remedy."""
    if upsample == "transpose":
        pad = (size_out[0] - 2 * size_in[0], size_out[1] - 2 * size_in[1])  # 0 or 1: restores odd sides
        return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=pad)]
    if upsample == "nearest":
        return [nn.Upsample(size=tuple(size_out), mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1)]
    raise ValueError(f"upsample must be one of {UPSAMPLES}, got {upsample!r}")


class ConvDecoder(nn.Module):
    """(N, C_last, h, w) → (N, C_out, H, W): blocks of [×2 upsampling, norm, ReLU] that retrace `sizes` exactly,
    then a 3×3 conv to `out_channels` with no activation (raw outputs). `upsample` (see `upsample_block`):
    "transpose" (transposed conv 4×4 stride 2, the DCGAN generator; the default) or "nearest" (nearest-neighbour
    ×2, then a 3×3 conv; no checkerboard)."""

    def __init__(self, channels: Sequence[int], sizes: Sequence[tuple[int, int]], out_channels: int,
                 norm: str = "group", upsample: str = "transpose"):
        super().__init__()
        layers: list[nn.Module] = []
        levels = list(zip(channels, sizes))[::-1]  # from the lowest resolution up
        for (c_in, size_in), (c_out, size_out) in pairwise(levels):
            layers += [*upsample_block(c_in, c_out, size_in, size_out, upsample), make_norm(norm, c_out), nn.ReLU()]
        layers.append(nn.Conv2d(channels[0], out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


# --- image ↔ latent networks used by the families ------------------------------------------------------------------
class ImageEncoder(nn.Module):
    """Image (N, C, H, W) → code. conv_dense: (N, out_size) through one ``nn.Linear``; fully_conv: (N, out_size,
    h, w) through a 3×3 conv. An optional class embedding (N, E) is appended to the input as constant channels
    (conditional VAE, Sohn et al. 2015). mlp: the flattened image (+ the embedding as a vector) → dense layers
    (`hidden_sizes`, `activation`) → ``nn.Linear`` to (N, out_size); the conv options are then unused."""

    def __init__(self, image_shape: Sequence[int], architecture: str, out_size: int, num_down: int,
                 base_channels: int, max_channels: int, norm: str = "group", cond_dim: int = 0,
                 hidden_sizes: Sequence[int] = (200, 200), activation: str = "tanh"):
        super().__init__()
        c, h, w = image_shape
        self.architecture = architecture
        if architecture == "mlp":
            self.convs: nn.Module = MLPStack(c * h * w + cond_dim, hidden_sizes, activation)
            self.head: nn.Module = nn.Linear(self.convs.out_features, out_size)
            return
        channels = level_channels(base_channels, max_channels, num_down)
        self.convs = ConvEncoder(c + cond_dim, channels, norm)
        lh, lw = feature_sizes(h, w, num_down)[-1]
        if architecture == "conv_dense":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * lh * lw, out_size))
        else:
            self.head = nn.Conv2d(channels[-1], out_size, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        if self.architecture == "mlp":  # pixels in [0, 1] as Burda et al. feed them (see genlab.nn.mlp)
            x = (x.flatten(1) + 1) / 2
        return self.head(self.convs(concat_condition(x, emb)))


class ImageDecoder(nn.Module):
    """Latent → raw image (N, out_channels, H, W). conv_dense: z (N, D) → ``nn.Linear`` → (N, C_last, h, w) →
    transposed convs; fully_conv: z (N, C_z, h, w) → 3×3 conv → transposed convs. A class embedding (N, E) is
    appended to z (as a vector or as constant channels). mlp: z (N, D) → dense layers (`hidden_sizes` reversed,
    `activation`) → ``nn.Linear`` → (N, out_channels, H, W); the conv options are then unused. `upsample`: how
    each conv level doubles its size, "transpose" or "nearest" (see `ConvDecoder`)."""

    def __init__(self, image_shape: Sequence[int], architecture: str, latent_size: int, num_down: int,
                 base_channels: int, max_channels: int, norm: str = "group", cond_dim: int = 0,
                 out_channels: int | None = None, hidden_sizes: Sequence[int] = (200, 200),
                 activation: str = "tanh", upsample: str = "transpose"):
        super().__init__()
        c, h, w = image_shape
        if architecture == "mlp":
            self.stem: nn.Module = MLPStack(latent_size + cond_dim, list(hidden_sizes)[::-1], activation)
            self.stem_act: nn.Module = nn.Identity()
            self.convs: nn.Module = nn.Sequential(nn.Linear(self.stem.out_features, (out_channels or c) * h * w),
                                                  nn.Unflatten(1, (out_channels or c, h, w)))
            return
        channels = level_channels(base_channels, max_channels, num_down)
        sizes = feature_sizes(h, w, num_down)
        self.low_shape = (channels[-1], *sizes[-1])
        if architecture == "conv_dense":
            self.stem = nn.Sequential(nn.Linear(latent_size + cond_dim, math.prod(self.low_shape)),
                                      nn.Unflatten(1, self.low_shape))
        else:
            self.stem = nn.Conv2d(latent_size + cond_dim, channels[-1], 3, padding=1)
        self.stem_act = nn.Sequential(make_norm(norm, channels[-1]), nn.ReLU())
        self.convs = ConvDecoder(channels, sizes, out_channels or c, norm, upsample)

    def forward(self, z: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.convs(self.stem_act(self.stem(concat_condition(z, emb))))


def latent_shape_for(architecture: str, image_shape: Sequence[int], num_down: int, latent_size: int
                     ) -> tuple[int, ...]:
    """(D,) for conv_dense and mlp; (C_z, h, w) for fully_conv at the encoder's lowest resolution."""
    if architecture in ("conv_dense", "mlp"):
        return (latent_size,)
    return (latent_size, *feature_sizes(image_shape[1], image_shape[2], num_down)[-1])
