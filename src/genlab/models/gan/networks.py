"""Generator and discriminator networks for the GAN families, built from the shared conv stacks.

ImageGenerator: z → ImageDecoder → tanh, so samples are in [-1, 1] (Radford et al. 2016). conv_dense takes z (N, D);
fully_conv takes a spatial z (N, C_z, h, w) as in SGAN (Jetchev et al. 2016) and contains no nn.Linear.
Discriminator: ConvEncoder → a score per image (N,). conv_dense: flatten → nn.Linear; fully_conv: 3×3 conv to a
score map averaged over positions (a PatchGAN-like mean). With `minibatch_std` = G > 0 the head also sees one more
feature map, the standard deviation of the features across groups of G samples (Karras et al. 2018, "Progressive
growing of GANs", §3): a batch of identical fakes has zero spread, which the discriminator can then punish — the
usual remedy for a generator that ignores its noise (mode collapse). Class conditioning uses the projection discriminator
(Miyato & Koyama 2018, eq. 3): D(x, y) = ψ(φ(x)) + ⟨embed(y), pool(φ(x))⟩.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genlab.nn.convnets import ConvEncoder, ImageDecoder, feature_sizes, level_channels, maybe_sn


class ImageGenerator(nn.Module):
    """z (N, *latent_shape) [+ labels (N,)] → images (N, C, H, W) in [-1, 1]."""

    def __init__(self, image_shape: Sequence[int], architecture: str, latent_size: int, num_down: int,
                 base_channels: int, max_channels: int, norm: str, num_classes: int = 0, class_embed_dim: int = 0):
        super().__init__()
        self.label_emb = nn.Embedding(num_classes, class_embed_dim) if num_classes > 0 else None
        cond = class_embed_dim if num_classes > 0 else 0
        self.net = ImageDecoder(image_shape, architecture, latent_size, num_down, base_channels, max_channels,
                                norm, cond_dim=cond)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        emb = self.label_emb(y.long()) if self.label_emb is not None and y is not None else None
        if self.label_emb is not None and emb is None:
            raise ValueError("this generator is class-conditional; labels are required")
        return torch.tanh(self.net(z, emb))


def minibatch_std(h: Tensor, group: int) -> Tensor:
    """(N, C, h, w) → (N, C + 1, h, w): appends, for every sample, the mean over channels and positions of the
    feature standard deviation within its group (samples i, i + M, i + 2M, … with M = N / G; G = the largest divisor
    of N not above `group`). Karras et al. 2018, §3."""
    n, c, hh, ww = h.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    spread = (h.reshape(g, n // g, c, hh, ww).var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
    return torch.cat([h, spread.repeat(g)[:, None, None, None].expand(n, 1, hh, ww)], dim=1)


class Discriminator(nn.Module):
    """images (N, C, H, W) [+ labels (N,)] → scores (N,) (logits for ns, critic values for wasserstein)."""

    def __init__(self, image_shape: Sequence[int], architecture: str, num_down: int, base_channels: int,
                 max_channels: int, norm: str, spectral_norm: bool = False, num_classes: int = 0,
                 minibatch_std: int = 0):
        super().__init__()
        c, h, w = image_shape
        channels = level_channels(base_channels, max_channels, num_down)
        lh, lw = feature_sizes(h, w, num_down)[-1]
        self.features = ConvEncoder(c, channels, norm, spectral_norm)
        self.minibatch_std = minibatch_std
        head_in = channels[-1] + (1 if minibatch_std > 0 else 0)
        if architecture == "conv_dense":
            self.head: nn.Module = nn.Sequential(nn.Flatten(), maybe_sn(nn.Linear(head_in * lh * lw, 1),
                                                                        spectral_norm))
        else:
            self.head = maybe_sn(nn.Conv2d(head_in, 1, 3, padding=1), spectral_norm)
        self.projection = nn.Embedding(num_classes, channels[-1]) if num_classes > 0 else None
        if self.projection is not None:  # N(0, 1) rows would make the class term dominate at initialisation
            nn.init.xavier_uniform_(self.projection.weight)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.features(x)  # (N, C_last, h, w)
        score = self.head(minibatch_std(h, self.minibatch_std) if self.minibatch_std > 0 else h).flatten(1).mean(1)
        if self.projection is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional; labels are required")
            score = score + (self.projection(y.long()) * h.mean(dim=(2, 3))).sum(1)
        return score
