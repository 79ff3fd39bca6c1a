"""Samplers against an analytic optimal denoiser for Gaussian data x0 ~ N(mu, s^2 I).

For such data E[x0 | x_t] = mu + a s^2 / (a^2 s^2 + sigma^2) (x_t - a mu) (a = sqrt(alpha_bar), sigma^2 = 1 - alpha_bar)
and the probability-flow ODE keeps z = (x_t - a mu) / sqrt(a^2 s^2 + sigma^2) constant, so deterministic samplers
have an exact per-sample answer to compare with.
"""

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion.samplers import SAMPLERS, get_sampler
from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
from genlab.utils.seeding import randn_like_per_sample, sample_generators

MU, S = 0.5, 0.3
AB = make_alphas_cumprod("cosine", 1000)
SHAPE = (1, 8, 8)


def gaussian_denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    a = AB[t].sqrt().to(x.dtype).reshape(-1, 1, 1, 1)
    sig2 = (1 - AB[t]).to(x.dtype).reshape(-1, 1, 1, 1)
    return MU + a * S**2 / (a**2 * S**2 + sig2) * (x - a * MU)


def exact_ode_result(x_T: torch.Tensor, t_last: int) -> torch.Tensor:
    """ODE from T-1 down to t_last (exact), then the final jump x0_hat(x_{t_last}) that every sampler makes."""
    a_T, a = AB[-1].sqrt().item(), AB[t_last].sqrt().item()
    z = (x_T - a_T * MU) / math.sqrt(a_T**2 * S**2 + 1 - AB[-1].item())
    return MU + a * S**2 / math.sqrt(a**2 * S**2 + 1 - AB[t_last].item()) * z


def run(name, steps, seeds=range(64), **opts):
    gens = sample_generators(list(seeds))
    x_T = randn_like_per_sample(gens, SHAPE)
    ts = sampling_timesteps(steps, len(AB))
    return get_sampler(name)(gaussian_denoiser, x_T, ts, AB, generators=gens, **opts), x_T, int(ts[-1])


@pytest.mark.parametrize("name,steps", [("ddpm", 250), ("ddim", 100), ("dpmpp-2m", 20)])
def test_samplers_recover_gaussian_mean_and_std(name, steps):
    # DDPM needs many steps: with x0_hat in place of the true posterior its per-step variance is too small when
    # steps are skipped (Bao et al. 2022, Analytic-DPM); at 250 steps the std is within ~3%.
    out, _, _ = run(name, steps, seeds=range(128))
    assert out.shape == (128, *SHAPE)
    assert abs(out.mean().item() - MU) < 0.01
    assert abs(out.std().item() - S) < 0.02


@pytest.mark.parametrize("name,steps,tol", [("ddim", 100, 0.03), ("dpmpp-2m", 20, 0.02), ("dpmpp-2m", 10, 0.02)])
def test_deterministic_samplers_follow_the_exact_ode(name, steps, tol):
    out, x_T, t_last = run(name, steps)
    assert (out - exact_ode_result(x_T, t_last)).abs().max() < tol


def test_dpmpp_2m_is_second_order():
    """At 10 steps DPM-Solver++(2M) is far more accurate than first-order DDIM, and close to DDIM at 100 steps."""
    dpm, x_T, t_last = run("dpmpp-2m", 10)
    ddim10, _, _ = run("ddim", 10)
    exact = exact_ode_result(x_T, t_last)
    assert (dpm - exact).abs().mean() < 0.2 * (ddim10 - exact).abs().mean()
    dpm20, ddim100 = run("dpmpp-2m", 20)[0], run("ddim", 100)[0]
    assert (dpm20 - ddim100).abs().mean() < 0.005  # DDIM at 20 steps is ~0.02 away


def test_ddim_eta0_is_deterministic_and_eta1_equals_ddpm():
    a, b = run("ddim", 10)[0], run("ddim", 10, seeds=range(64))[0]
    assert torch.equal(a, b)
    ddim_eta1, ddpm = run("ddim", 10, eta=1.0)[0], run("ddpm", 10)[0]
    assert torch.allclose(ddim_eta1, ddpm, atol=1e-5)
    assert not torch.allclose(ddim_eta1, a, atol=1e-2)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_each_sample_depends_only_on_its_own_seed(name):
    opts = {"eta": 0.5} if name == "ddim" else {}
    batch = run(name, 8, seeds=[11, 12, 13], **opts)[0]
    alone = run(name, 8, seeds=[12], **opts)[0]
    assert torch.allclose(batch[1:2], alone, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_callback_once_per_step(name):
    seen = []
    gens = sample_generators([1, 2])
    ts = sampling_timesteps(7, 1000)
    get_sampler(name)(gaussian_denoiser, randn_like_per_sample(gens, SHAPE), ts, AB, generators=gens,
                      callback=seen.append)
    assert [d["i"] for d in seen] == list(range(7))
    assert [d["t"] for d in seen] == ts.tolist()
    assert all(d["x"].shape == d["x0_hat"].shape == (2, *SHAPE) for d in seen)


def test_unknown_sampler_names_the_known_ones():
    with pytest.raises(GenlabError, match="ddpm, ddim, dpmpp-2m"):
        get_sampler("no-such-sampler")
    assert get_sampler("dpmpp_2m") is SAMPLERS["dpmpp-2m"]


def test_timesteps_must_descend():
    gens = sample_generators([0])
    with pytest.raises(GenlabError, match="descending"):
        get_sampler("ddim")(gaussian_denoiser, torch.zeros(1, *SHAPE), [10, 20], AB, generators=gens)
