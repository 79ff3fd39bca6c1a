"""Vocoder networks: a Vocos generator (log-mel → STFT magnitude and phase → iSTFT) and HiFi-GAN's multi-period
discriminator.

- Generator: Siuzdak 2023 ("Vocos: closing the gap between time-domain and Fourier-based neural vocoders", §3):
  a ConvNeXt backbone (Liu et al. 2022) at the frame rate, a linear head giving log-magnitude m and phase angle p
  per STFT bin, ``X = exp(m) · (cos p + i sin p)``, then the inverse STFT. Working at frame rate (not sample rate)
  is what makes it cheap enough to train on a CPU, and the phase is predicted, not reconstructed iteratively.
- Phase: 'absolute' is Vocos' head (p is the angle itself). A convolution over frames is shift-equivariant, so on
  a sustained note (the same mel frame after frame) it outputs the same angle every frame, while the true phase of
  a partial at frequency ω advances by ω·hop per frame: overlap-add then cancels it. 'accumulated' is the phase
  vocoder's propagation instead (Flanagan & Golden 1966; Laroche & Dolson 1999): the head predicts each bin's
  deviation δ from its centre frequency ω_k, and ``p[t] = π k + ω_k · hop · t + Σ_{1≤τ≤t} δ[τ]``. The π k term is
  the phase of a centred-window frame referenced to its first sample (``(−1)^k``), so with the right δ every bin of a
  partial's main lobe carries the partial's phase and the frames add up coherently. The δ half of the head starts
  at zero, so an untrained generator is already a coherent phase vocoder.
- Magnitude prior (``mel_prior``): the head predicts a residual over ``log B(mel)``, where B spreads each mel
  band's average back over its bins (``B[k, m] = fb[m, k] / Σ_m' fb[m', k]`` applied to ``mel_m / Σ_k fb[m, k]``:
  a flat spectrum comes back exactly, everything is non-negative), optionally refined by `prior_nnls_iters`
  non-negative least-squares updates (`genlab.audio.phase`; three from this start reach the spectral convergence of
  100 from the pseudo-inverse). The residual half also starts at zero, so training begins from the mel's
  inversion instead of from noise and learns the detail the mel averaged away.
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

from genlab.audio.phase import nnls_multiplicative
from genlab.audio.transforms import Stft
from genlab.errors import GenlabError

PHASE_MODES = ("absolute", "accumulated")
PRIOR_FLOOR = 1e-5  # linear-magnitude floor of the mel prior before the log


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


def band_spread(filterbank: Tensor) -> Tensor:
    """(n_mels, F) filterbank → (F, n_mels) B with ``B @ mel`` = each band's average spread over its bins."""
    band_mass = filterbank.sum(1, keepdim=True).clamp_min(1e-12)  # (M, 1)
    share = filterbank / filterbank.sum(0, keepdim=True).clamp_min(1e-12)  # (M, F): each bin's bands sum to 1
    return (share / band_mass).transpose(0, 1).contiguous()


class VocosGenerator(nn.Module):
    """log-mel (N, M, T) → waveform (N, (T − 1) · hop) through a predicted complex STFT (see PHASE_MODES)."""

    def __init__(self, n_mels: int, n_fft: int, hop: int, dim: int = 128, hidden: int = 384, num_blocks: int = 4,
                 phase_mode: str = "absolute", max_log_mag: float = 5.0, prior_filterbank: Tensor | None = None,
                 prior_nnls_iters: int = 0):
        super().__init__()
        if phase_mode not in PHASE_MODES:
            raise GenlabError(f"vocos: phase_mode '{phase_mode}' is unknown; expected one of {', '.join(PHASE_MODES)}")
        self.stft = Stft(n_fft, hop)
        self.phase_mode, self.max_log_mag = phase_mode, float(max_log_mag)
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, hidden) for _ in range(num_blocks)])
        self.final_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 2 * self.stft.num_bins)
        f = self.stft.num_bins
        if phase_mode == "accumulated":
            nn.init.zeros_(self.head.weight[f:])
            nn.init.zeros_(self.head.bias[f:])
        self.register_buffer("prior", None if prior_filterbank is None else band_spread(prior_filterbank),
                             persistent=False)
        self.register_buffer("prior_fb", prior_filterbank, persistent=False)
        self.prior_nnls_iters = int(prior_nnls_iters)
        if self.prior is not None:
            nn.init.zeros_(self.head.weight[:f])
            nn.init.zeros_(self.head.bias[:f])

    def polar(self, log_mel: Tensor) -> tuple[Tensor, Tensor]:
        """(N, M, T) → log-magnitude m (N, F, T) (clipped at `max_log_mag`; Vocos clips exp(m) at 1e2) and phase p."""
        h = self.norm(self.embed(log_mel).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        m, p = self.head(self.final_norm(h.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        if self.prior is not None:  # residual over the mel's inversion (floored like the log-mel itself)
            m = m + self.prior_magnitude(log_mel).clamp_min(PRIOR_FLOOR).log()
        if self.phase_mode == "accumulated":
            p = self._accumulate(p)
        return m.clamp(max=self.max_log_mag), p

    def prior_magnitude(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) → the mel prior's linear magnitude (N, F, T): band envelope, then NNLS refinement."""
        with torch.no_grad():  # a fixed function of the input
            mel = log_mel.exp()
            start = torch.matmul(self.prior, mel) + 1e-12  # multiplicative updates cannot leave an exact zero
            return nnls_multiplicative(mel, self.prior_fb, start, self.prior_nnls_iters, 1e-12)

    def _accumulate(self, delta: Tensor) -> Tensor:
        """Deviations δ (N, F, T) → p[t] = π k + ω_k·hop·t + Σ_{1≤τ≤t} δ[τ] (the ω_k·hop·t term reduced mod 2π in
        integer arithmetic, so float32 keeps its precision over thousands of frames)."""
        n_bins, n_frames = delta.shape[-2:]
        k = torch.arange(n_bins, device=delta.device)[:, None]
        t = torch.arange(n_frames, device=delta.device)[None, :]
        n_fft = self.stft.n_fft
        carrier = (k * (n_fft // 2) + k * self.stft.hop * t) % n_fft  # (π k + ω_k hop t) · n_fft / 2π
        drift = torch.cumsum(F.pad(delta[..., 1:], (1, 0)), dim=-1)
        return carrier.to(delta.dtype) * (2 * torch.pi / n_fft) + drift

    def spectrum(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) → complex STFT (N, F, T): magnitude exp(m), phase p."""
        m, p = self.polar(log_mel)
        return torch.polar(torch.exp(m), p)

    def forward(self, log_mel: Tensor) -> Tensor:
        return self.synthesise(self.spectrum(log_mel))

    def synthesise(self, spec: Tensor) -> Tensor:
        """Complex STFT (N, F, T) → waveform (N, (T − 1) · hop)."""
        return self.stft.inverse(spec, (spec.shape[-1] - 1) * self.stft.hop)


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
