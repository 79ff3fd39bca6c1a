"""Quadratic and sigmoid beta schedules, the Karras sigma schedule and its timestep grid: monotone, endpoints and
values computed by hand from the defining formulas."""

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion.model import Diffusion
from genlab.models.diffusion.schedules import (
    karras_sigmas,
    karras_timesteps,
    make_alphas_cumprod,
    quadratic_alphas_cumprod,
    sigmoid_alphas_cumprod,
)


def betas_of(ab: torch.Tensor) -> torch.Tensor:
    return 1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])


@pytest.mark.parametrize("name", ["quadratic", "sigmoid"])
def test_new_beta_schedules_are_valid_alpha_bars(name):
    ab = make_alphas_cumprod(name, 1000)
    assert ab.dtype == torch.float64 and ab.shape == (1000,)
    assert (ab[1:] < ab[:-1]).all() and 0 < ab[-1] < ab[0] < 1
    assert (betas_of(ab)[1:] > betas_of(ab)[:-1]).all()  # betas increase


def test_quadratic_betas_are_squares_of_a_linear_ramp():
    betas = betas_of(quadratic_alphas_cumprod(1000))
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-9)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-9)
    roots = betas.sqrt()
    assert torch.allclose(roots[1:] - roots[:-1], torch.full((999,), (math.sqrt(0.02) - 0.01) / 999,
                                                              dtype=torch.float64), rtol=1e-6)
    # Fewer steps keep the same overall noise scale: betas grow by 1000/T.
    assert betas_of(quadratic_alphas_cumprod(250))[0].item() == pytest.approx(4e-4, rel=1e-9)


def test_sigmoid_betas_endpoints_and_midpoint():
    betas = betas_of(sigmoid_alphas_cumprod(1001))
    scale = 1000 / 1001
    assert betas[0].item() == pytest.approx((1e-4 + 0.0199 / (1 + math.exp(6))) * scale, rel=1e-9)
    assert betas[500].item() == pytest.approx((1e-4 + 0.0199 / 2) * scale, rel=1e-9)
    assert betas[-1].item() == pytest.approx((1e-4 + 0.0199 / (1 + math.exp(-6))) * scale, rel=1e-9)


def test_diffusion_config_accepts_the_new_schedules_and_names_them_on_a_bad_one():
    tiny = {"base_channels": 8, "channel_mults": [1], "num_train_steps": 50}
    assert torch.equal(Diffusion((1, 8, 8), schedule="sigmoid", **tiny).alphas_cumprod, sigmoid_alphas_cumprod(50))
    with pytest.raises(GenlabError, match="quadratic, sigmoid"):
        Diffusion((1, 8, 8), schedule="karras", **tiny)


def test_karras_sigmas_endpoints_monotone_and_rho():
    sig = karras_sigmas(5, 0.002, 80.0)
    assert sig[0].item() == pytest.approx(80.0) and sig[-1].item() == pytest.approx(0.002)
    assert (sig[1:] < sig[:-1]).all()
    # middle: ((80^(1/7) + 0.002^(1/7)) / 2)^7 = (1.87043 + 0.41179)^7 / 128 = 2.5152
    assert sig[2].item() == pytest.approx(2.5152, abs=1e-3)
    # rho = 1 is even spacing in sigma, rho -> infinity even spacing in log-sigma; rho = 7 lies in between
    assert torch.allclose(karras_sigmas(5, 1.0, 5.0, rho=1.0), torch.tensor([5.0, 4, 3, 2, 1], dtype=torch.float64))
    log_even = torch.logspace(math.log10(80), math.log10(0.002), 5, dtype=torch.float64)
    assert log_even[2] < sig[2] < (80 + 0.002) / 2


def test_karras_sigmas_bad_input():
    with pytest.raises(GenlabError, match="sigma_min < sigma_max"):
        karras_sigmas(10, 1.0, 0.5)
    with pytest.raises(GenlabError, match="num_steps must be >= 2"):
        karras_sigmas(1, 0.1, 1.0)


def test_karras_timesteps_are_a_descending_grid_over_the_schedule():
    ab = make_alphas_cumprod("linear", 1000)
    ts = karras_timesteps(20, ab)
    assert ts[0].item() == 999 and ts[-1].item() == 0
    assert (ts[1:] < ts[:-1]).all() and len(ts) <= 20
