"""The "spectral-ae" family: a convolutional VAE on normalised log-magnitude patches (N, C, F, T).

Spectrograms are not images: time is translation-invariant and of any length, frequency is not. So the frequency
bins (and channels) become the feature dimension of 1-D convolutions over time (as Open-Unmix treats bins as
features), and the code is (N, code_dim, T) — one vector per frame. With code_dim = 128 the code holds as many
numbers per frame as a 128-bin log-mel, which makes "learned code vs mel" a fair comparison. A 2-D conv net with
frequency striding was tried first: ~8x the multiply-adds per frame for the same code, too slow for a CPU budget.
Fully convolutional in time, a whole track is regenerated in one pass regardless of the training patch length.

Loss (per element of model space): L1 reconstruction + β · KL(q(z|x) ‖ N(0, I)) (Kingma & Welling 2014, β-VAE of
Higgins et al. 2017 with small β: the model is mainly an autoencoder; the KL keeps the code near the prior so that
`generate` from seeded N(0, I) codes yields spectrogram-like patches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, Logs
from genlab.utils.seeding import randn_per_sample


@dataclass
class SpectralAEConfig:
    hidden: int = 256  # channels of the frame-rate conv stacks
    num_blocks: int = 2  # residual conv blocks in the encoder and in the decoder
    code_dim: int = 128  # numbers per frame in the code (a 128-bin log-mel holds 128)
    time_kernel: int = 3  # frames of context per conv (odd)
    beta: float = 1e-3  # KL weight
    class_embed_dim: int = 0  # unused (labels are embedded to code_dim); kept for config symmetry

    def validate(self, family: str) -> None:
        if (self.time_kernel % 2 == 0 or not 1 <= self.time_kernel <= 63 or not 1 <= self.code_dim <= 1 << 14
                or not 1 <= self.hidden <= 1 << 16 or not 0 <= self.num_blocks <= 64 or self.beta < 0):
            raise GenlabError(f"{family}: time_kernel must be odd in 1..63, code_dim 1..16384, hidden 1..65536, "
                              f"num_blocks 0..64, beta ≥ 0; got {self}")


class _ResBlock(nn.Module):
    """GroupNorm → SiLU → Conv1d(k) → GroupNorm → SiLU → Conv1d(k), residual. (N, D, T) → (N, D, T)."""

    def __init__(self, dim: int, kernel: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8 if dim % 8 == 0 else 1, dim), nn.SiLU(),
                                  nn.Conv1d(dim, dim, kernel, padding=kernel // 2),
                                  nn.GroupNorm(8 if dim % 8 == 0 else 1, dim), nn.SiLU(),
                                  nn.Conv1d(dim, dim, kernel, padding=kernel // 2))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SpectralAE(GenerativeModel):
    """Frame-rate conv VAE: (N, C, F, T) in [-1, 1] ↔ code (N, code_dim, T)."""

    family = "spectral-ae"
    Config = SpectralAEConfig
    sampling_options = ("frames", "temperature")
    latent_kind = "code"
    has_latent = True
    domain = "audio"

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self.latent_shape = (cfg.code_dim, self.image_shape[2])
        c, f, _ = self.image_shape
        k, h = cfg.time_kernel, cfg.hidden
        self.encoder = nn.Sequential(nn.Conv1d(c * f, h, k, padding=k // 2),
                                     *[_ResBlock(h, k) for _ in range(cfg.num_blocks)],
                                     nn.GroupNorm(8 if h % 8 == 0 else 1, h), nn.SiLU(), nn.Conv1d(h, 2 * cfg.code_dim, 1))
        self.decoder = nn.Sequential(nn.Conv1d(cfg.code_dim, h, k, padding=k // 2),
                                     *[_ResBlock(h, k) for _ in range(cfg.num_blocks)],
                                     nn.GroupNorm(8 if h % 8 == 0 else 1, h), nn.SiLU(), nn.Conv1d(h, c * f, 1))
        self.label_emb = nn.Embedding(num_classes, cfg.code_dim) if num_classes > 0 else None

    # --- encoder / decoder ------------------------------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(N, C, F, T) → mean and log-variance of q(z|x), each (N, code_dim, T). Frequency bins are channels."""
        n, c, f, t = x.shape
        mean, logvar = self.encoder(x.reshape(n, c * f, t)).chunk(2, dim=1)
        return mean, logvar.clamp(-10.0, 10.0)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """(N, code_dim, T) code → (N, C, F, T) in [-1, 1] (tanh output)."""
        if self.label_emb is not None and y is not None:
            z = z + self.label_emb(y)[:, :, None]
        c, f, _ = self.image_shape
        out = torch.tanh(self.decoder(z))
        return out.reshape(z.shape[0], c, f, z.shape[-1])

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Deterministic regeneration through the posterior mean: (N, C, F, T) → (N, C, F, T)."""
        return self.decode(self.encode(x)[0], y)

    # --- training ---------------------------------------------------------------------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """L1 reconstruction (mean per element) + β · KL (nats per code element)."""
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()  # reparameterisation (Kingma & Welling eq. 10)
        x_hat = self.decode(z, y)
        recon = (x_hat - x).abs().mean()
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean()  # KL(N(μ,σ²) ‖ N(0,1)), per element
        loss = recon + self.cfg.beta * kl
        return loss, {"loss": loss.detach(), "l1": recon.detach(), "kl": kl.detach(),
                      "mse": (x_hat - x).square().mean().detach()}

    # --- inference --------------------------------------------------------------------------------------------
    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0, frames: int | None = None) -> Tensor:
        """Seeded N(0, T²·I) codes (len(seeds), code_dim, frames or T); row i depends only on seeds[i]."""
        device = next(self.parameters()).device
        return temperature * randn_per_sample(seeds, (self.cfg.code_dim, frames or self.image_shape[2]), device=device)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, frames: int | None = None,
                 temperature: float = 1.0, callback: Any = None) -> Tensor:
        """Patches decoded from seeded N(0, T²·I) codes: (N, C, F, frames or T) in [-1, 1]."""
        return self.decode(self.sample_latent(seeds, temperature, frames), labels)
