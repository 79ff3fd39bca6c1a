"""EDM preconditioning and loss weighting as a third parameterisation ("edm") beside eps and v."""

import math

import pytest
import torch

from genlab.models.diffusion import edm, objective
from genlab.models.diffusion.model import Diffusion
from genlab.models.diffusion.samplers import SAMPLERS
from genlab.models.diffusion.schedules import make_alphas_cumprod

TINY = {"base_channels": 8, "channel_mults": [1, 1], "attention_resolutions": [4], "num_heads": 2}


def test_coefficients_at_sigma_data_and_the_limits():
    sd = edm.SIGMA_DATA
    c_skip, c_out, c_in, c_noise = edm.edm_coefficients(torch.tensor([sd, 1e-6, 1e6], dtype=torch.float64))
    assert c_skip[0] == pytest.approx(0.5) and c_out[0] == pytest.approx(sd / math.sqrt(2))
    assert c_in[0] == pytest.approx(1 / (sd * math.sqrt(2))) and c_noise[0] == pytest.approx(math.log(sd) / 4)
    assert c_skip[1] == pytest.approx(1.0) and c_out[1] == pytest.approx(0.0, abs=1e-5)  # clean: D = x~
    assert c_skip[2] == pytest.approx(0.0, abs=1e-12) and c_out[2] == pytest.approx(sd)  # pure noise: D = sd F
    # lambda(s) = (s^2 + sd^2) / (s sd)^2: 2 / sd^2 = 8 at s = sd, and exactly 1 / c_out^2 everywhere
    s = torch.logspace(-3, 2, 11, dtype=torch.float64)
    assert edm.edm_loss_weight(torch.tensor(sd))== pytest.approx(8.0)
    assert torch.allclose(edm.edm_loss_weight(s), 1 / edm.edm_coefficients(s)[1] ** 2)


def test_zero_network_gives_the_gaussian_posterior_mean():
    """F = 0 leaves D = c_skip x~, which is E[x0 | x~] for data x0 ~ N(0, sd^2 I): the known skip solution."""
    ab = make_alphas_cumprod("cosine", 1000)
    t = torch.tensor([0, 250, 500, 999])
    x_t = torch.randn(4, 1, 4, 4, dtype=torch.float64)
    den = objective.Denoiser(lambda x, c, y: torch.zeros_like(x), ab, "edm", clip_x0=False)
    x0 = den(x_t, t)
    alpha, sigma = objective.alpha_sigma(ab, t, 4, torch.float64)
    s2, sd2 = (sigma / alpha) ** 2, edm.SIGMA_DATA**2
    assert torch.allclose(x0, sd2 / (sd2 + s2) * x_t / alpha)
    assert torch.allclose(x0, edm.skip_only(x_t, alpha, sigma))


def test_backbone_sees_unit_variance_input_and_log_sigma_condition():
    ab = make_alphas_cumprod("cosine", 1000)
    seen = {}

    def backbone(x, cond, y):
        seen["x"], seen["cond"] = x, cond
        return torch.zeros_like(x)

    t = torch.full((4096,), 700)
    x0 = (torch.rand(4096, 1, 2, 2, dtype=torch.float64) * 2 - 1) * math.sqrt(3) * edm.SIGMA_DATA  # std = sd
    alpha, sigma = objective.alpha_sigma(ab, t, 4, torch.float64)
    x_t = objective.q_sample(x0, torch.randn_like(x0), alpha, sigma)
    objective.Denoiser(backbone, ab, "edm", clip_x0=False)(x_t, t)
    assert seen["x"].std().item() == pytest.approx(1.0, abs=0.03)
    assert seen["cond"][0].item() == pytest.approx(250 * math.log(float(sigma[0] / alpha[0])), rel=1e-5)


@pytest.mark.parametrize("prediction", objective.PREDICTIONS)
def test_target_inverts_to_x0_and_eps(prediction):
    """The training target, read back as a backbone output, gives exactly (x0, eps): training and sampling agree."""
    ab = make_alphas_cumprod("cosine", 1000)
    t = torch.tensor([1, 100, 600, 990])
    x0, eps = torch.rand(4, 2, 3, 3, dtype=torch.float64) * 2 - 1, torch.randn(4, 2, 3, 3, dtype=torch.float64)
    alpha, sigma = objective.alpha_sigma(ab, t, 4, torch.float64)
    x_t = objective.q_sample(x0, eps, alpha, sigma)
    out = objective.training_target(prediction, x0, eps, alpha, sigma)
    x0_hat, eps_hat = objective.x0_eps_from_output(prediction, out, x_t, alpha, sigma)
    assert torch.allclose(x0_hat, x0, atol=1e-8) and torch.allclose(eps_hat, eps, atol=1e-6)


def test_f_space_mse_is_the_edm_weighted_denoiser_loss():
    ab = make_alphas_cumprod("cosine", 1000)
    t = torch.tensor([3, 300, 800])
    x0, eps = torch.rand(3, 1, 4, 4, dtype=torch.float64) * 2 - 1, torch.randn(3, 1, 4, 4, dtype=torch.float64)
    alpha, sigma = objective.alpha_sigma(ab, t, 4, torch.float64)
    x_t = objective.q_sample(x0, eps, alpha, sigma)
    f = torch.randn_like(x0)
    d = edm.denoised(f, x_t, alpha, sigma)
    weighted = edm.edm_loss_weight(sigma / alpha) * (d - x0).square()
    assert torch.allclose(weighted, (f - edm.target(x0, x_t, alpha, sigma)).square())


def test_edm_model_trains_and_every_sampler_runs_it():
    torch.manual_seed(0)
    m = Diffusion((1, 8, 8), num_classes=3, prediction="edm", **TINY)
    loss, _ = m("model", torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0]))
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    with torch.no_grad():  # untrained nets output zeros (zero-init last layer): perturb so outputs depend on x
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    for name in SAMPLERS:
        out = m.generate([0, 1], torch.tensor([0, 2]), sampler=name, steps=4, guidance=1.5)
        assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all(), name
