"""Phase-gradient heuristic integration (PGHI): a phase for an STFT magnitude without iterations.

Průša, Balazs & Søndergaard (2017), "A noniterative method for reconstruction of phase from STFT magnitude"
(IEEE/ACM TASLP 25(5)). For a Gaussian window ``g(t) = exp(−π t² / λ)`` the STFT is, up to a known factor, an
analytic function of ``x − iλω``, so the Cauchy–Riemann equations tie the phase gradient to the gradient of the
log-magnitude ``s = ln |X|``. In genlab's STFT (`genlab.audio.transforms.Stft`: frame m centred on sample m·a,
bin k at frequency k/N cycles per sample, the phase measured from the frame's first sample) this gives, per frame
step and per bin step:

    ∂ψ/∂m = (a N / λ) ∂s/∂k + 2π k a / N          (instantaneous frequency × hop)
    ∂ψ/∂k = −(λ / (N a)) ∂s/∂m + π                 (local group delay; +π from the centred window)

(derivation: with the frequency-invariant phase φ, ∂φ/∂x = (1/λ) ∂s/∂ω and ∂φ/∂ω = −λ ∂s/∂x − 2πx, and
ψ = φ + 2π k m a / N + π k). Other windows use the λ of their best-fitting Gaussian: ``λ = 0.25645 N²`` for a Hann
window of length N (the paper's Table I). The phase is then integrated along the gradient from the loudest
coefficient outwards (a max-heap of the coefficients reached so far, trapezoidal steps to each unassigned
neighbour), so it follows ridges where the estimate is reliable; coefficients below ``tol`` × the maximum get a
random phase (their gradient is noise). The result is one waveform with no iterations — the oracle reference beside
Griffin-Lim on the true magnitude.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import torch
from torch import Tensor

from genlab.audio.transforms import Stft
from genlab.errors import GenlabError

HANN_LAMBDA = 0.25645  # λ / N² of the Gaussian that best matches a Hann window of length N (Průša et al. 2017)


def phase_gradients(log_mag: np.ndarray, n_fft: int, hop: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(∂ψ/∂m, ∂ψ/∂k) in radians per frame step and per bin step, from ``s = ln|X|`` of shape (F, T)."""
    F, T = log_mag.shape
    ds_dk = np.gradient(log_mag, axis=0) if F > 1 else np.zeros_like(log_mag)
    ds_dm = np.gradient(log_mag, axis=1) if T > 1 else np.zeros_like(log_mag)
    k = np.arange(F, dtype=np.float64)[:, None]
    time_dir = (hop * n_fft / lam) * ds_dk + 2 * np.pi * k * hop / n_fft
    freq_dir = -(lam / (n_fft * hop)) * ds_dm + np.pi
    return time_dir, freq_dir


def _integrate(neg_mag: np.ndarray, time_dir: np.ndarray, freq_dir: np.ndarray, phase: np.ndarray,
               done: np.ndarray, order: np.ndarray, F: int, T: int) -> np.ndarray:
    """The heap integration on flat (F·T) arrays; `phase` holds the random phase of the bins left out (`done`)."""
    heap = [(0.0, 0)]
    heap.pop()
    for seed in order:
        if done[seed]:
            continue
        done[seed] = True
        phase[seed] = 0.0
        heap.append((neg_mag[seed], seed))
        while len(heap) > 0:
            i = heapq.heappop(heap)[1]
            k, m = i // T, i % T
            p = phase[i]
            if m + 1 < T and not done[i + 1]:
                phase[i + 1] = p + 0.5 * (time_dir[i] + time_dir[i + 1])
                done[i + 1] = True
                heapq.heappush(heap, (neg_mag[i + 1], i + 1))
            if m > 0 and not done[i - 1]:
                phase[i - 1] = p - 0.5 * (time_dir[i] + time_dir[i - 1])
                done[i - 1] = True
                heapq.heappush(heap, (neg_mag[i - 1], i - 1))
            if k + 1 < F and not done[i + T]:
                phase[i + T] = p + 0.5 * (freq_dir[i] + freq_dir[i + T])
                done[i + T] = True
                heapq.heappush(heap, (neg_mag[i + T], i + T))
            if k > 0 and not done[i - T]:
                phase[i - T] = p - 0.5 * (freq_dir[i] + freq_dir[i - T])
                done[i - T] = True
                heapq.heappush(heap, (neg_mag[i - T], i - T))
    return phase


try:  # numba (a librosa dependency) compiles the loop once per process: ~20x faster than the interpreter
    import numba

    _integrate_fast = numba.njit(cache=False)(_integrate)
except ImportError:  # pragma: no cover - environment dependent
    _integrate_fast = None


def integrate_phase(mag: np.ndarray, time_dir: np.ndarray, freq_dir: np.ndarray, tol: float,
                    rng: np.random.Generator, compiled: bool = True) -> np.ndarray:
    """Heap integration of the phase gradient over the (F, T) grid, loudest coefficient first; bins at or below
    ``tol`` × the maximum keep a random phase."""
    F, T = mag.shape
    flat = np.ascontiguousarray(mag, dtype=np.float64).ravel()
    phase = rng.uniform(0, 2 * np.pi, size=F * T)
    peak = float(flat.max()) if flat.size else 0.0
    significant = flat > tol * peak if peak > 0 else np.zeros(flat.shape, dtype=bool)
    order = np.argsort(-flat, kind="stable")[: int(significant.sum())].astype(np.int64)
    args = (-flat, np.ascontiguousarray(time_dir, dtype=np.float64).ravel(),
            np.ascontiguousarray(freq_dir, dtype=np.float64).ravel(), phase, ~significant, order, F, T)
    fn = _integrate_fast if compiled and _integrate_fast is not None else _integrate
    return fn(*args).reshape(F, T)


def pghi_phase(magnitude: Tensor, stft: Stft, lam: float | None = None, tol: float = 1e-5,
               seed: int = 0) -> Tensor:
    """PGHI phase (radians) for a linear STFT magnitude (..., F, T) of `stft` (Hann window: ``λ = 0.25645 N²``
    unless given). Each leading index (channel) is integrated on its own."""
    if magnitude.shape[-2] != stft.num_bins:
        raise GenlabError(f"PGHI: magnitude has {magnitude.shape[-2]} bins; the STFT has {stft.num_bins}")
    if not 0 <= tol < 1:
        raise GenlabError(f"PGHI: tol = {tol} must be in [0, 1)")
    lam = HANN_LAMBDA * stft.n_fft**2 if lam is None else float(lam)
    if not math.isfinite(lam) or lam <= 0:
        raise GenlabError(f"PGHI: λ = {lam} must be a positive number")
    mags = magnitude.detach().cpu().double().numpy().reshape(-1, *magnitude.shape[-2:])
    rng = np.random.default_rng(seed)
    out = np.empty_like(mags)
    for c, mag in enumerate(mags):
        log_mag = np.log(np.maximum(mag, 1e-12 + tol * max(float(mag.max()), 0.0)))
        time_dir, freq_dir = phase_gradients(log_mag, stft.n_fft, stft.hop, lam)
        out[c] = integrate_phase(mag, time_dir, freq_dir, tol, rng)
    return torch.from_numpy(out.reshape(magnitude.shape)).to(magnitude.dtype).to(magnitude.device)


def pghi(magnitude: Tensor, stft: Stft, length: int | None = None, lam: float | None = None, tol: float = 1e-5,
         seed: int = 0) -> Tensor:
    """Waveform (..., S) from a linear STFT magnitude (..., F, T) with the PGHI phase (no iterations)."""
    return stft.inverse_polar(magnitude, pghi_phase(magnitude, stft, lam, tol, seed), length)
