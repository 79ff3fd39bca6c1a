"""Vocoder networks: a Vocos generator (log-mel → STFT magnitude and phase → iSTFT) and HiFi-GAN's multi-period
discriminator.

- Generator: Siuzdak 2023 ("Vocos: closing the gap between time-domain and Fourier-based neural vocoders", §3):
  a ConvNeXt backbone (Liu et al. 2022) at the frame rate, a linear head giving log-magnitude m and phase angle p
  per STFT bin, ``X = exp(m) · (cos p + i sin p)``, then the inverse STFT. Working at frame rate (not sample rate)
  is what makes it cheap enough to train on a CPU, and the phase is predicted, not reconstructed iteratively.
- Discriminator: Kong, Kim & Bae 2020 (HiFi-GAN, §2.2): for each period p the waveform is folded into a
  (S / p, p) image and judged by 2-D convolutions with (k, 1) kernels, so each sub-discriminator sees periodic
  structure. Layouts: mel (N, M, T); waveform (N, S); STFT (N, F, T) complex.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.audio.transforms import Stft


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7) → LayerNorm → pointwise MLP (GELU) → layer scale, residual (Liu et al. 2022, Fig. 4)."""

    def __init__(self, dim: int, hidden: int, kernel: int = 7, layer_scale: float = 0.1):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.pw2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        """(N, D, T) → (N, D, T)."""
        h = self.dwconv(x).transpose(1, 2)  # (N, T, D)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosGenerator(nn.Module):
    """log-mel (N, M, T) → waveform (N, (T − 1) · hop) through a predicted complex STFT."""

    def __init__(self, n_mels: int, n_fft: int, hop: int, dim: int = 128, hidden: int = 384, num_blocks: int = 4):
        super().__init__()
        self.stft = Stft(n_fft, hop)
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, hidden) for _ in range(num_blocks)])
        self.final_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2 * self.stft.num_bins)

    def spectrum(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) → complex STFT (N, F, T): magnitude exp(m) (clipped at e^5 like Vocos' 1e2), phase p."""
        h = self.norm(self.embed(log_mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        m, p = self.head(self.final_norm(h.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        mag = torch.exp(m.clamp(max=5.0))
        return torch.complex(mag * torch.cos(p), mag * torch.sin(p))

    def forward(self, log_mel: Tensor) -> Tensor:
        spec = self.spectrum(log_mel)
        return self.stft.inverse(spec, (log_mel.shape[-1] - 1) * self.stft.hop)


class PeriodDiscriminator(nn.Module):
    """One HiFi-GAN sub-discriminator: waveform folded by `period`, (5, 1) convs, stride 3 (Kong et al. 2020)."""

    def __init__(self, period: int, channels: int = 8, max_channels: int = 64):
        super().__init__()
        self.period = period
        chans = [1] + [min(channels * 2**i, max_channels) for i in range(4)]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, (5, 1), (3 if i < 3 else 1, 1), (2, 0))
                                    for i, (a, b) in enumerate(itertools.pairwise(chans))])
        self.post = nn.Conv2d(chans[-1], 1, (3, 1), 1, (1, 0))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(N, S) → logits (N, L) and the feature maps (for the feature-matching loss)."""
        n, s = wave.shape
        pad = (-s) % self.period
        x = F.pad(wave[:, None], (0, pad), mode="reflect" if pad < s else "constant")
        h = x.view(n, 1, (s + pad) // self.period, self.period)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        out = self.post(h)
        feats.append(out)
        return out.flatten(1), feats


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's MPD: one PeriodDiscriminator per period (prime periods avoid overlapping patterns)."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: int = 8):
        super().__init__()
        self.discs = nn.ModuleList([PeriodDiscriminator(p, channels) for p in periods])

    def forward(self, wave: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        return [d(wave) for d in self.discs]
