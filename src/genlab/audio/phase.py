"""Phase reconstruction baselines: fast Griffin-Lim, oracle phase, and mel → linear magnitude inversion.

These are what a learned spectrogram model or vocoder must beat on the same input:

- **Griffin-Lim** (Griffin & Lim 1984) alternates the two projections P_C1 (onto consistent spectrograms,
  STFT∘iSTFT) and P_C2 (onto the set with the target magnitude). The *fast* variant (Perraudin, Balazs &
  Søndergaard 2013, Algorithm 2) adds momentum α: ``c_n = P_C1(P_C2(t_{n-1}))``, ``t_n = c_n + α (c_n − c_{n-1})``;
  α = 0 gives the original algorithm, α ≈ 0.99 converges much faster.
- **Oracle phase**: the target magnitude with the reference signal's phase — an upper bound for any magnitude-only
  model (it measures magnitude error alone).
- **mel → linear**: the mel filterbank M (n_mels × F) is wide, so ``M x = m`` is under-determined. 'pinv' takes the
  minimum-norm solution clamped at 0; 'nnls' solves ``min ||M x − m||² s.t. x ≥ 0`` with Lee & Seung (2001)
  multiplicative updates ``x ← x ⊙ (Mᵀ m) / (Mᵀ M x)`` (monotone, stays non-negative, batched on any device).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.audio.transforms import Stft
from genlab.errors import GenlabError

Callback = Callable[[int, Tensor], None]


def _project_magnitude(spec: Tensor, magnitude: Tensor, eps: float = 1e-8) -> Tensor:
    """P_C2: keep the phase of `spec`, impose `magnitude` (Perraudin et al. 2013, eq. 4)."""
    return magnitude * spec / spec.abs().clamp_min(eps)


def _initial_phase(magnitude: Tensor, init: str, generator: torch.Generator | None) -> Tensor:
    if init == "zeros":
        return torch.zeros_like(magnitude)
    if init == "random":
        u = torch.rand(magnitude.shape, generator=generator, device="cpu", dtype=magnitude.dtype)
        return (2 * torch.pi * u).to(magnitude.device)
    raise GenlabError(f"Griffin-Lim init '{init}' is unknown; expected 'random' or 'zeros'")


def griffin_lim(magnitude: Tensor, stft: Stft, n_iter: int = 32, momentum: float = 0.99, length: int | None = None,
                init: str = "random", phase: Tensor | None = None, generator: torch.Generator | None = None,
                callback: Callback | None = None) -> Tensor:
    """Fast Griffin-Lim: linear STFT magnitude (..., F, T) → waveform (..., S).

    `phase` (radians, (..., F, T)) overrides `init` as the starting phase. `callback(i, wave)` is called after each
    iteration with the current estimate (for convergence curves). Returns the last consistent estimate's waveform.
    """
    if n_iter < 0 or not 0.0 <= momentum < 1.0:
        raise GenlabError(f"Griffin-Lim: need n_iter ≥ 0 and 0 ≤ momentum < 1, got {n_iter}, {momentum}")
    if magnitude.shape[-2] != stft.num_bins:
        raise GenlabError(f"Griffin-Lim: magnitude has {magnitude.shape[-2]} bins; the STFT has {stft.num_bins}")
    start = phase if phase is not None else _initial_phase(magnitude, init, generator)
    t_prev = torch.polar(magnitude, start)
    c_prev = torch.zeros_like(t_prev)
    for i in range(n_iter):
        # c_n = P_C1(P_C2(t_{n-1})): impose the magnitude, then make the spectrogram consistent.
        c = stft(stft.inverse(_project_magnitude(t_prev, magnitude), length))
        t_prev = c + momentum * (c - c_prev) if i > 0 else c
        c_prev = c
        if callback is not None:
            callback(i, stft.inverse(_project_magnitude(c, magnitude), length))
    return stft.inverse(_project_magnitude(t_prev, magnitude), length)


def oracle_phase(magnitude: Tensor, reference: Tensor, stft: Stft) -> Tensor:
    """Waveform from `magnitude` (..., F, T) and the phase of `reference` (..., S); same length as reference."""
    ref_spec = stft(reference)
    if ref_spec.shape != magnitude.shape:
        raise GenlabError(f"oracle phase: magnitude shape {tuple(magnitude.shape)} differs from the reference's "
                          f"STFT shape {tuple(ref_spec.shape)}")
    return stft.inverse(_project_magnitude(ref_spec, magnitude), reference.shape[-1])


def mel_to_linear(mel: Tensor, filterbank: Tensor, method: str = "nnls", n_iter: int = 100,
                  eps: float = 1e-10) -> Tensor:
    """Mel magnitude (..., n_mels, T) → non-negative linear magnitude (..., F, T) with ``filterbank`` (n_mels, F)."""
    fb = filterbank.to(mel.dtype)
    pinv = torch.linalg.pinv(fb)  # (F, n_mels), minimum-norm least squares
    x = torch.matmul(pinv, mel).clamp_min(0)
    if method == "pinv":
        return x
    if method != "nnls":
        raise GenlabError(f"mel inversion method '{method}' is unknown; expected 'nnls' or 'pinv'")
    return nnls_multiplicative(mel, fb, x + eps * mel.amax(dim=(-2, -1), keepdim=True) + eps, n_iter, eps)


def nnls_multiplicative(mel: Tensor, fb: Tensor, x: Tensor, n_iter: int, eps: float) -> Tensor:
    """Lee & Seung (2001) updates for min ||fb x − mel||², x ≥ 0 (fb fixed): x ← x ⊙ fbᵀmel / (fbᵀfb x)."""
    fbt = fb.transpose(0, 1)
    numerator = torch.matmul(fbt, mel.clamp_min(0))  # (..., F, T)
    in_place = not torch.is_grad_enabled() or not (x.requires_grad or mel.requires_grad or fb.requires_grad)
    for _ in range(n_iter):  # fbᵀ(fb x), not (fbᵀfb) x: n_mels ≪ F makes this ~F/n_mels times cheaper
        denominator = torch.matmul(fbt, torch.matmul(fb, x))
        if in_place:  # same numbers, two temporaries fewer per update (~25 % of the vocoder's mel prior)
            x = (x * numerator).div_(denominator.clamp_min_(eps))
        else:
            x = x * numerator / denominator.clamp_min(eps)
    return x
