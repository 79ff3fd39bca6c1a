"""UniPC (Zhao et al. 2023, "UniPC", Algorithms 2-3 with B(h) = expm1(-h), the "bh2" variant): a multistep
predictor (UniP-p) and a corrector (UniC) that reuses the denoiser call of the next step, in data prediction and
log-SNR lambda = -log(sigma).

From x~ at lambda_0 with x0 predictions m_0 (newest) and m_k at lambda_k (k = 1..p-1), h = lambda_next - lambda_0:

    r_k = (lambda_k - lambda_0) / h,  D_k = (m_k - m_0) / r_k,  B = expm1(-h)
    x~_next = e^{-h} x~ - expm1(-h) m_0 - B sum_k rho_k D_k
    rho solves  sum_k rho_k r_k^(i-1) = i! phi_{i+1}(h) h / B  (i = 1..p-1; p = 2: rho = 1/2)

The corrector redoes the step with the new m_next as an extra point (r = 1), solving the p x p system; the
corrected x~ is carried forward while m_next (taken at the predicted x~) joins the history. `order` (default 2)
is lowered on the first steps. The last step returns the final x0 prediction. Deterministic.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_step, scaled_start, sigma_steps


def _rhs(h: float, order: int) -> list[float]:
    """b_i = i! phi_{i+1}(-h) / B(h) for i = 1..order (the UniPC right-hand side, data prediction, bh2)."""
    hh, b_h = -h, math.expm1(-h)
    phi_k, factorial, out = math.expm1(hh) / hh - 1, 1, []
    for i in range(1, order + 1):
        out.append(phi_k * factorial / b_h)
        factorial *= i + 1
        phi_k = phi_k / hh - 1 / factorial
    return out


def _update(x: Tensor, lam0: float, hist: list[tuple[float, Tensor]], lam_next: float, order: int,
            m_next: Tensor | None) -> Tensor:
    """UniP-order step (m_next None) or UniC-order step (m_next given) from (x, hist[0]) to lam_next."""
    h = lam_next - lam0
    m0 = hist[0][1]
    rks = [(lam_k - lam0) / h for lam_k, _ in hist[1:order]]
    diffs = [(m_k - m0) / r for (_, m_k), r in zip(hist[1:order], rks)]
    b = _rhs(h, order)
    if m_next is None:
        rows = len(rks)
        rhos = [] if rows == 0 else [0.5] if rows == 1 else _solve([[r**i for r in rks] for i in range(rows)], b[:rows])
    else:
        rks, diffs = [*rks, 1.0], [*diffs, m_next - m0]
        rhos = [0.5] if order == 1 else _solve([[r**i for r in rks] for i in range(order)], b[:order])
    res = sum((rho * d for rho, d in zip(rhos, diffs)), torch.zeros_like(x))
    return math.exp(-h) * x - math.expm1(-h) * m0 - math.expm1(-h) * res


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Solution of a small dense linear system, in float64."""
    return torch.linalg.solve(torch.tensor(matrix, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64)).tolist()


@torch.no_grad()
def unipc(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
          callback: Callback = None, order: int = 2) -> Tensor:
    """UniPC-bh2 of `order` (1-3) with the corrector on every step but the last; `generators` unused."""
    if order not in (1, 2, 3):
        raise GenlabError(f"unipc: order must be 1, 2 or 3, got {order}")
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    hist: list[tuple[float, Tensor]] = []
    prev: tuple[Tensor, int] | None = None
    for i, (t, sigma, sigma_next) in enumerate(steps):
        m = denoise_step(denoise, x, t, sigma, i, callback)
        lam = -math.log(sigma)
        if sigma_next == 0.0:
            return m
        if prev is not None:
            x = _update(prev[0], hist[0][0], hist, lam, prev[1], m)
        hist = [(lam, m), *hist][:order]
        this_order = min(order, len(hist))
        prev = (x, this_order)
        x = _update(x, lam, hist, -math.log(sigma_next), this_order, None)
    return x
