"""PF-ODE likelihood with Hutchinson's estimator against the exact log-density of Gaussian data.

x0 ~ N(MU, S^2) per channel (S differs across channels), the exact denoiser over the cosine table. The PF-ODE
estimate is of log p_{sigma_0}, the data smoothed by the smallest level: exactly N(MU, S^2 + sigma_0^2) per pixel.
The denoiser's Jacobian is diagonal, so a Rademacher probe gives the exact trace and the per-sample estimate is off
only by the ODE solver and the prior; Gaussian probes are unbiased but noisy.
"""

import math

import pytest
import torch
from tests.unit.test_samplers_stochastic import AB, MU, SHAPE, S, denoise

from genlab.errors import GenlabError
from genlab.models.diffusion.likelihood import (
    bits_per_dim,
    dequantize,
    log_sigma_grid,
    pf_ode_log_likelihood,
)


def exact_log_p(x: torch.Tensor, sigma0: float) -> torch.Tensor:
    var = S**2 + sigma0**2
    return (-0.5 * ((x - MU) ** 2 / var + torch.log(2 * math.pi * var))).flatten(1).sum(1)


def data(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return MU + S * torch.randn(n, *SHAPE, generator=g, dtype=torch.float64)


def test_rademacher_estimate_matches_the_exact_gaussian_log_density_per_sample():
    x = data(64)
    errors = {}
    for steps in (100, 200):
        sigma0 = log_sigma_grid(AB, steps)[0][1]
        est = pf_ode_log_likelihood(denoise, x, AB, num_steps=steps, generator=torch.Generator().manual_seed(1))
        errors[steps] = float((est - exact_log_p(x, sigma0)).abs().max())
    # 48 dimensions, log p ~ -40 nats: measured max error 0.19 nats at 100 steps, 0.048 at 200 (Heun: second order)
    assert errors[200] < 0.1 and errors[100] / errors[200] > 3, errors


def test_gaussian_probes_are_unbiased_and_more_probes_reduce_the_spread():
    x = data(256, seed=3)
    sigma0 = log_sigma_grid(AB, 100)[0][1]
    exact = exact_log_p(x, sigma0)
    errs = {}
    for k in (1, 8):
        est = pf_ode_log_likelihood(denoise, x, AB, num_steps=100, probes=k, probe="gaussian",
                                    generator=torch.Generator().manual_seed(2))
        errs[k] = est - exact
    assert abs(float(errs[1].mean())) < 4 * float(errs[1].std()) / math.sqrt(256)  # unbiased
    assert float(errs[8].std()) < 0.5 * float(errs[1].std())  # ~1/sqrt(8) measured


def test_bits_per_dim_of_8_bit_data_and_dequantisation():
    # Uniform density on [-1, 1]^d is log p = -d log 2, i.e. exactly 8 bits per dimension for 256 levels
    d = 784
    assert torch.allclose(bits_per_dim(torch.tensor([-d * math.log(2.0)]), d), torch.tensor([8.0]))
    u = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    x = dequantize(u, torch.Generator().manual_seed(0))
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(((x + 1) * 128).floor().to(torch.uint8), u)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(GenlabError, match="num_steps"):
        pf_ode_log_likelihood(denoise, data(2), AB, num_steps=0)
    with pytest.raises(GenlabError, match="probe must be"):
        pf_ode_log_likelihood(denoise, data(2), AB, num_steps=3, probe="sobol")
