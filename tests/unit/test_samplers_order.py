"""Every deterministic sampler against the exact probability-flow ODE of Gaussian data, and its convergence order.

Analytic test bed: x0 ~ N(MU, S^2) per pixel (S differs across pixels). In the sigma view x~ = x0 + sigma eps the
exact denoiser is D(x~; sigma) = MU + S^2 / (S^2 + sigma^2) (x~ - MU), and the probability-flow ODE
dx~/dsigma = (x~ - D) / sigma = sigma / (S^2 + sigma^2) (x~ - MU) has the closed-form solution
x~(sigma_b) - MU = (x~(sigma_a) - MU) sqrt((S^2 + sigma_b^2) / (S^2 + sigma_a^2)).
Every sampler ends with the jump D(x~_last; sigma_last) to the clean image, so the exact answer is that jump
applied to the exact ODE state at the last listed sigma. Everything is float64.

The schedule is built from the sigmas themselves (alpha_bar = 1 / (1 + sigma^2)) on a fine grid, the timesteps are
every SUB-th index, and the in-between indices hold the exact log-SNR midpoints the single-step solvers need.
The order is the least-squares slope of log(error) against log(steps).
"""

import math

import pytest
import torch

from genlab.models.diffusion.samplers import get_sampler

MU = 0.7
S = torch.tensor([0.2, 0.5, 1.0, 2.0], dtype=torch.float64).reshape(1, 4, 1, 1)
SUB = 4
# A narrower range for sigma-spaced grids: with steps even in sigma, SIGMA_MIN = 0.05 would take steps of ~0.3 near
# sigma = 0.2 where the solution changes fastest, far from the asymptotic regime at these step counts.
RANGES = {"log": (0.05, 20.0), "linear": (0.5, 5.0)}


def denoiser(alphas_cumprod):
    def denoise(x_t, t):
        ab = alphas_cumprod[t].reshape(-1, 1, 1, 1)
        sigma2 = (1 - ab) / ab
        return MU + S**2 / (S**2 + sigma2) * (x_t / ab.sqrt() - MU)
    return denoise


def grid(steps: int, spacing: str):
    """(alphas_cumprod, descending timesteps) with `steps` sigmas from SIGMA_MAX to SIGMA_MIN evenly spaced in
    log-sigma (= log-SNR), or from LINEAR_MAX to LINEAR_MIN evenly spaced in sigma; refined SUB times in between."""
    u = torch.linspace(0, 1, (steps - 1) * SUB + 1, dtype=torch.float64)
    lo, hi = RANGES[spacing]
    sigmas = lo * (hi / lo) ** u if spacing == "log" else lo + (hi - lo) * u
    ab = 1 / (1 + sigmas**2)
    return ab, torch.arange(len(ab) - 1, -1, -SUB)


def exact_answer(x_T, spacing: str):
    """D(x~(sigma_min); sigma_min) for the exact ODE from sigma_max, x_T in the variance-preserving scale."""
    SIGMA_MIN, SIGMA_MAX = RANGES[spacing]
    x_hi = x_T * math.sqrt(1 + SIGMA_MAX**2)
    x_lo = MU + (x_hi - MU) * torch.sqrt((S**2 + SIGMA_MIN**2) / (S**2 + SIGMA_MAX**2))
    return MU + S**2 / (S**2 + SIGMA_MIN**2) * (x_lo - MU)


X_T = torch.randn(3, 4, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def error(name: str, steps: int, spacing: str = "log", **opts) -> float:
    ab, ts = grid(steps, spacing)
    out = get_sampler(name)(denoiser(ab), X_T, ts, ab, generators=[None] * len(X_T), **opts)
    return (out - exact_answer(X_T, spacing)).abs().max().item()


def slope(name: str, steps_list, spacing: str = "log", **opts) -> float:
    errs = [error(name, n, spacing, **opts) for n in steps_list]
    x, y = torch.tensor(steps_list, dtype=torch.float64).log(), torch.tensor(errs).log()
    x = x - x.mean()
    return -float((x * (y - y.mean())).sum() / (x * x).sum())


STEPS = [16, 24, 32, 48, 64]

# (sampler, options, spacing, expected global order). Multistep methods start with lower order: DPM-Solver++(3M)'s
# first-order first step (local error O(h^2)) caps it at 2 overall; UniPC's corrector lifts its start by one order,
# so UniPC-p is order p + 1 (capped at 3 by the corrected first-order start). PLMS's fixed Adams-Bashforth weights
# assume steps even in sigma (third order there: Heun start, then AB2-AB4); on the log grid it is second order.
CASES = [
    ("ddim", {}, "log", 1),
    ("euler", {}, "log", 1),
    ("heun", {}, "log", 2),
    ("dpmpp-2m", {}, "log", 2),
    ("dpmpp-2s", {}, "log", 2),
    ("dpmpp-3m", {}, "log", 2),
    ("unipc", {"order": 1}, "log", 2),
    ("unipc", {"order": 2}, "log", 3),
    ("unipc", {"order": 3}, "log", 3),
    ("plms", {}, "linear", 3),
    ("plms", {}, "log", 2),
]


@pytest.mark.parametrize("name,opts,spacing,order", CASES, ids=[f"{c[0]}{c[1] or ''}-{c[2]}" for c in CASES])
def test_empirical_order_of_convergence(name, opts, spacing, order):
    measured = slope(name, STEPS, spacing, **opts)
    print(f"{name} {opts} {spacing}: slope {measured:.2f}")
    assert measured > order - 0.3
    assert error(name, STEPS[-1], spacing, **opts) < 0.1


def test_higher_order_solvers_beat_euler_at_equal_denoiser_calls():
    """At 33 denoiser calls (Heun/2S: 17 steps, PLMS: 32 steps) every higher-order solver is closer than Euler: the
    single-step ones 2.4x/5.6x (they spend half their calls on the stage), the multistep ones 22-85x (measured)."""
    euler = error("euler", 33)
    for name, steps, factor in [("heun", 17, 2), ("dpmpp-2s", 17, 4), ("dpmpp-2m", 33, 15), ("dpmpp-3m", 33, 50),
                                ("unipc", 33, 50), ("plms", 32, 20)]:
        assert error(name, steps) < euler / factor, name


@pytest.mark.parametrize("name", ["heun", "plms"])
def test_from_the_cosine_schedules_huge_first_sigma(name):
    """The cosine schedule's first sigma is ~2e4: a trapezoid there would amplify its correction ~3000x (noisy
    images); Heun and PLMS take an Euler step above EDM's sigma_max, then beat Euler on the same grid."""
    from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
    ab = make_alphas_cumprod("cosine", 1000)
    ts = sampling_timesteps(10, 1000)
    sig_hi, sig_lo = [math.sqrt((1 - ab[t].item()) / ab[t].item()) for t in (int(ts[0]), int(ts[-1]))]
    x_lo = MU + (X_T * math.sqrt(1 + sig_hi**2) - MU) * torch.sqrt((S**2 + sig_lo**2) / (S**2 + sig_hi**2))
    exact = MU + S**2 / (S**2 + sig_lo**2) * (x_lo - MU)
    errs = {name: (get_sampler(name)(denoiser(ab), X_T, ts, ab, generators=[None] * 3) - exact).abs().max().item()
            for name in ("euler", name)}
    print(errs)
    assert errs[name] < errs["euler"] / 3
