"""The vocoder's spectral training loss, also used as an audio metric (genlab.metrics.audio imports it from here,
so the model never imports the metrics layer above it)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genlab.audio.transforms import Stft

MR_FFT_SIZES = (512, 1024, 2048)


class MultiResolutionStftDistance(nn.Module):
    """Multi-resolution STFT distance (Yamamoto, Song & Kim 2020, Parallel WaveGAN, eqs. 4–6).

    Per resolution (window = n_fft, hop = n_fft/4): spectral convergence + mean |log|S| − log|Ŝ||; averaged over
    resolutions. Differentiable, so a vocoder can train on it; as a metric the value is per leading index.
    """

    def __init__(self, fft_sizes: Sequence[int] = MR_FFT_SIZES, eps: float = 1e-7):
        super().__init__()
        self.stfts = nn.ModuleList([Stft(n, n // 4) for n in fft_sizes])
        self.eps = eps

    def forward(self, reference: Tensor, estimate: Tensor) -> Tensor:
        total = 0.0
        for stft in self.stfts:
            ref, est = stft(reference).abs(), stft(estimate).abs()
            sc = torch.linalg.vector_norm(ref - est, dim=(-2, -1)) / torch.linalg.vector_norm(ref, dim=(-2, -1))
            log_mag = (ref.clamp_min(self.eps).log() - est.clamp_min(self.eps).log()).abs().mean((-2, -1))
            total = total + sc + log_mag
        return total / len(self.stfts)
