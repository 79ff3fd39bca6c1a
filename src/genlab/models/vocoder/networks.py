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
  structure. The multi-resolution discriminator (Jang et al. 2021, UnivNet §2.3; used by Vocos §3.3) judges the
  linear STFT magnitude at several resolutions with 2-D convolutions over (frequency, time), so what the periods
  miss — the spectral envelope and the noise floor at each resolution — is judged too.
  Layouts: mel (N, M, T); waveform (N, S); STFT (N, F, T) complex.
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

PHASE_MODES = ("absolute", "accumulated", "gated")
PRIOR_FLOOR = 1e-5  # linear-magnitude floor of the mel prior before the log
GATE_BIAS = -7.0  # initial gate logit of the 'gated' phase (memory of ~1,100 frames)


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


def accumulate_phase(delta: Tensor, n_fft: int, hop: int) -> Tensor:
    """The 'accumulated' phase: deviations δ (..., F, T) → p[t] = π k + ω_k·hop·t + Σ_{1≤τ≤t} δ[τ] (δ[0] unused; the
    ω_k·hop·t term reduced mod 2π in integer arithmetic, so float32 keeps its precision over thousands of frames)."""
    n_bins, n_frames = delta.shape[-2:]
    k = torch.arange(n_bins, device=delta.device)[:, None]
    t = torch.arange(n_frames, device=delta.device)[None, :]
    carrier = (k * (n_fft // 2) + k * hop * t) % n_fft  # (π k + ω_k hop t) · n_fft / 2π
    drift = torch.cumsum(F.pad(delta[..., 1:], (1, 0)), dim=-1)
    return carrier.to(delta.dtype) * (2 * torch.pi / n_fft) + drift


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
        f = self.stft.num_bins
        self.head = nn.Linear(dim, (4 if phase_mode == "gated" else 2) * f)
        if phase_mode in ("accumulated", "gated"):
            nn.init.zeros_(self.head.weight[f:2 * f])
            nn.init.zeros_(self.head.bias[f:2 * f])
        if phase_mode == "gated":  # the gate starts nearly shut (g ≈ e^-7): a coherent phase vocoder at first
            nn.init.zeros_(self.head.weight[3 * f:])
            nn.init.constant_(self.head.bias[3 * f:], GATE_BIAS)
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
        out = self.head(self.final_norm(h.transpose(1, 2))).transpose(1, 2)
        m, p = out[:, : self.stft.num_bins], out[:, self.stft.num_bins:]
        if self.prior is not None:  # residual over the mel's inversion (floored like the log-mel itself)
            m = m + self.prior_magnitude(log_mel).clamp_min(PRIOR_FLOOR).log()
        if self.phase_mode == "accumulated":
            p = self._accumulate(p)
        elif self.phase_mode == "gated":
            p = self._gated(*p.chunk(3, dim=1))
        return m.clamp(max=self.max_log_mag), p

    def _gated(self, delta: Tensor, anchor: Tensor, gate_logit: Tensor) -> Tensor:
        """Phase-vocoder propagation that can restart: a phasor per bin, z[0] = e^{i (a[0] + πk)},
        ``z[t] = (1 − g[t]) · z[t−1] · e^{i(ω_k·hop + δ[t])} + g[t] · e^{i (a[t] + πk)}``, phase = angle z.

        With the gate g shut it is the 'accumulated' mode (coherent on sustained partials); at an onset the network
        opens it and the bin restarts from an absolute phase a predicted from the local mel context — the same for
        every bin of a new partial's lobe, which the phase vocoder's running sums cannot give. (N, F, T) each."""
        n_bins, n_frames = delta.shape[-2:]
        k = torch.arange(n_bins, device=delta.device)[:, None].to(delta.dtype)
        step = torch.polar(torch.ones_like(delta), (2 * torch.pi * self.stft.hop / self.stft.n_fft) * k + delta)
        g = torch.sigmoid(gate_logit)
        fresh = g * torch.polar(torch.ones_like(anchor), anchor + torch.pi * k)  # πk: centred-window offset
        keep = (1 - g) * step
        z = torch.polar(torch.ones_like(anchor[..., 0]), anchor[..., 0] + torch.pi * k[:, 0])  # g[0] = 1
        out = [z]
        for t in range(1, n_frames):
            z = keep[..., t] * z + fresh[..., t]
            out.append(z)
        z = torch.stack(out, dim=-1)
        return torch.angle(z + 1e-7)  # angle(0) is 0; the offset keeps the gradient finite there

    def prior_magnitude(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) → the mel prior's linear magnitude (N, F, T): band envelope, then NNLS refinement."""
        with torch.no_grad():  # a fixed function of the input
            mel = log_mel.exp()
            start = torch.matmul(self.prior, mel) + 1e-12  # multiplicative updates cannot leave an exact zero
            return nnls_multiplicative(mel, self.prior_fb, start, self.prior_nnls_iters, 1e-12)

    def _accumulate(self, delta: Tensor) -> Tensor:
        return accumulate_phase(delta, self.stft.n_fft, self.stft.hop)

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


class ResolutionDiscriminator(nn.Module):
    """One UnivNet sub-discriminator: |STFT| at one resolution (window n_fft, hop n_fft/4) as a (1, T, F) image,
    (3, 9) convs striding over frequency, then a (3, 3) conv and a 1-channel (3, 3) output (Jang et al. 2021).
    UnivNet's first conv keeps the full frequency resolution; here every (3, 9) conv strides by 2 over frequency
    and there are three of them, not four: ~2x fewer multiply-adds, which is what makes the MRD affordable on a CPU."""

    def __init__(self, n_fft: int, channels: int = 8):
        super().__init__()
        self.stft = Stft(n_fft, n_fft // 4)
        strides = (2, 2, 2)
        self.convs = nn.ModuleList([nn.Conv2d(1 if i == 0 else channels, channels, (3, 9), (1, s), (1, 4))
                                    for i, s in enumerate(strides)])
        self.convs.append(nn.Conv2d(channels, channels, (3, 3), 1, (1, 1)))
        self.post = nn.Conv2d(channels, 1, (3, 3), 1, (1, 1))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(N, S) → logits (N, L) and the feature maps."""
        h = self.stft(wave).abs().transpose(-2, -1)[:, None]  # (N, 1, T, F)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        out = self.post(h)
        feats.append(out)
        return out.flatten(1), feats


class MultiResolutionDiscriminator(nn.Module):
    """UnivNet's MRD: one ResolutionDiscriminator per STFT size."""

    def __init__(self, fft_sizes: Sequence[int] = (512, 1024, 2048), channels: int = 8):
        super().__init__()
        self.discs = nn.ModuleList([ResolutionDiscriminator(n, channels) for n in fft_sizes])

    def forward(self, wave: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        return [d(wave) for d in self.discs]


class CombinedDiscriminator(nn.Module):
    """The periods' and the resolutions' sub-discriminators as one list (MPD + MRD, as Vocos trains)."""

    def __init__(self, periods: Sequence[int], fft_sizes: Sequence[int], channels: int = 8,
                 mrd_channels: int = 8):
        super().__init__()
        self.mpd = MultiPeriodDiscriminator(periods, channels)
        self.mrd = MultiResolutionDiscriminator(fft_sizes, mrd_channels)

    def forward(self, wave: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        return self.mpd(wave) + self.mrd(wave)
