"""Noise schedules and sampling grids."""

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion.schedules import (
    cosine_alphas_cumprod,
    linear_alphas_cumprod,
    make_alphas_cumprod,
    sampling_timesteps,
)


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("num_steps", [1000, 50])
def test_alpha_bar_is_float64_strictly_decreasing_in_unit_interval(name, num_steps):
    ab = make_alphas_cumprod(name, num_steps)
    assert ab.dtype == torch.float64 and ab.shape == (num_steps,)
    assert (ab > 0).all() and (ab < 1).all()
    assert (ab.diff() < 0).all()


def test_cosine_endpoints_follow_nichol_dhariwal():
    ab = cosine_alphas_cumprod(1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert ab[0].item() == pytest.approx(f(1) / f(0), rel=1e-12)  # ~1 - 4e-5: almost clean
    assert ab[-1].item() < 1e-8  # almost pure noise (beta clipped at 0.999)
    assert ab[499].item() == pytest.approx(f(500) / f(0), rel=1e-3)  # unclipped mid-range matches eq. 17


def test_linear_matches_ddpm_betas():
    ab = linear_alphas_cumprod(1000)
    assert ab[0].item() == pytest.approx(1 - 1e-4)
    assert ab[1].item() == pytest.approx((1 - 1e-4) * (1 - (1e-4 + (0.02 - 1e-4) / 999)))
    assert ab[-1].item() == pytest.approx(4.04e-5, rel=0.01)


def test_trailing_timesteps():
    assert sampling_timesteps(10, 1000).tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    for n in (1, 3, 7, 50, 999, 1000):
        ts = sampling_timesteps(n, 1000)
        assert ts.dtype == torch.int64 and len(ts) == n and ts[0] == 999
        assert (ts.diff() < 0).all() and ts[-1] >= 0
    assert sampling_timesteps(1000, 1000)[-1] == 0


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(GenlabError, match="unknown schedule 'sqrt'"):
        make_alphas_cumprod("sqrt", 1000)
    with pytest.raises(GenlabError, match=r"\[1, 1000\], got 0"):
        sampling_timesteps(0, 1000)
    with pytest.raises(GenlabError, match="got 2000"):
        sampling_timesteps(2000, 1000)
