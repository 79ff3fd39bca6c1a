"""Ladder VAE: precision-weighted posterior, closed-form KL, IWAE log-weights against an independent computation,
ancestral sampling, the [z1, z2] latent, one-line config errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlab.errors import GenlabError
from genlab.models.ladder.model import gaussian_kl, precision_weighted
from genlab.models.registry import get_family

TINY = {"base_channels": 8, "latent_dim": 4, "top_latent_dim": 3, "hidden": 16}


def tiny(num_classes=0, **kw):
    torch.manual_seed(0)
    return get_family("ladder-vae")((1, 16, 16), num_classes, **{**TINY, **kw})


def test_precision_weighted_combination_is_the_normalised_product_of_gaussians():
    mu_a, lv_a, mu_b, lv_b = torch.randn(4), torch.randn(4), torch.randn(4), torch.randn(4)
    mu, lv = precision_weighted(mu_a, lv_a, mu_b, lv_b)
    # N(z; a) N(z; b) ∝ N(z; mu, var): the log-ratio is constant in z
    zs = torch.linspace(-3, 3, 7)[:, None]
    ratio = (Normal(mu_a, (0.5 * lv_a).exp()).log_prob(zs) + Normal(mu_b, (0.5 * lv_b).exp()).log_prob(zs)
             - Normal(mu, (0.5 * lv).exp()).log_prob(zs))
    assert torch.allclose(ratio, ratio[:1].expand_as(ratio), atol=1e-4)
    same_mu, same_lv = precision_weighted(mu_a, torch.zeros(4), mu_a + 2, torch.zeros(4))
    assert torch.allclose(same_mu, mu_a + 1) and torch.allclose(same_lv, torch.full((4,), -math.log(2)))


def test_gaussian_kl_matches_torch_distributions():
    mq, lq, mp, lp = torch.randn(5), torch.randn(5), torch.randn(5), torch.randn(5)
    expected = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp()))
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), expected, atol=1e-5)
    assert torch.allclose(gaussian_kl(mq, lq, mq, lq), torch.zeros(5), atol=1e-6)


def test_log_importance_weights_match_an_independent_computation():
    model = tiny().eval()
    x = (torch.rand(2, 1, 16, 16) > 0.5).float() * 2 - 1
    k = 3
    noise = torch.randn(2, k, 7)
    log_w = model.log_importance_weights(x, k, noise=noise)
    assert log_w.shape == (2, k) and torch.isfinite(log_w).all()
    with torch.no_grad():
        for i in range(2):
            mu1h, lv1h, mu2, lv2 = model.bottom_up(x[i : i + 1], None)
            for j in range(k):
                eps1, eps2 = noise[i, j, :4], noise[i, j, 4:]
                q2 = Normal(mu2[0], (0.5 * lv2[0]).exp())
                z2 = q2.mean + q2.stddev * eps2
                mu_p, lv_p = model.top_down(z2[None])
                p1 = Normal(mu_p[0], (0.5 * lv_p[0]).exp())
                var1 = 1 / (1 / lv1h[0].exp() + 1 / lv_p[0].exp())
                q1 = Normal(var1 * (mu1h[0] / lv1h[0].exp() + mu_p[0] / lv_p[0].exp()), var1.sqrt())
                z1 = q1.mean + q1.stddev * eps1
                logits = model.decoder(torch.cat([z1, z2])[None], None)
                log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, (x[i : i + 1] + 1) / 2, reduction="sum")
                expected = (log_px + p1.log_prob(z1).sum() + Normal(0.0, 1.0).log_prob(z2).sum()
                            - q1.log_prob(z1).sum() - q2.log_prob(z2).sum())
                assert torch.allclose(log_w[i, j], expected, atol=1e-3), (i, j, log_w[i, j], expected)


def test_elbo_terms_and_their_relation_to_the_importance_weights():
    model = tiny().eval()
    x = (torch.rand(3, 1, 16, 16) > 0.5).float() * 2 - 1
    torch.manual_seed(1)
    loss, logs = model("model", x, None)
    assert {"recon", "kl1", "kl2", "elbo", "active_z1", "active_z2"} <= set(logs)
    assert torch.isclose(loss, logs["recon"] + logs["kl1"] + logs["kl2"])
    assert logs["kl1"] >= 0 and logs["kl2"] >= 0
    # E_q[log w] is the ELBO: a Monte-Carlo mean of 1-sample weights approaches −(recon + KL)
    torch.manual_seed(2)
    with torch.no_grad():
        mc = model.log_importance_weights(x, 4000).mean()
        elbo = torch.stack([-model("model", x, None)[0] for _ in range(400)]).mean()
    assert abs(float(mc - elbo)) < 0.02 * abs(float(elbo)) + 0.5
    neg_elbo = model.negative_elbo(x)
    assert neg_elbo.shape == (3,) and torch.isfinite(neg_elbo).all()


def test_latent_is_z1_z2_and_sampling_runs_the_top_down_prior():
    model = tiny(num_classes=3).eval()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    y = torch.tensor([0, 2])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (2, 7) and model.latent_shape == (7,)
    z = model.sample_latent([4, 5])
    assert torch.allclose(model.sample_latent([5]), z[1:], atol=1e-6)
    mu_p, _ = model.top_down(z[:, 4:])
    cold = model.sample_latent([4, 5], temperature=0.0)
    assert torch.allclose(cold, torch.cat([model.top_down(torch.zeros(2, 3))[0], torch.zeros(2, 3)], 1))
    assert not torch.allclose(z[:, :4], mu_p)  # z1 carries its own noise around the prior mean
    assert model.decode(z, y).shape == (2, 1, 16, 16)


def test_one_group_one_phase_and_config_errors_are_one_line():
    model = tiny()
    assert list(model.param_groups()) == ["model"] and model.phases(0) == ["model"]
    with pytest.raises(GenlabError, match="'architecture' = 'fully_conv' is not supported") as err:
        tiny(architecture="fully_conv")
    assert "\n" not in str(err.value)
    with pytest.raises(GenlabError, match="option 'top_latent_dim' = 0 must be in"):
        tiny(top_latent_dim=0)
    with pytest.raises(GenlabError, match="unknown training phase 'prior'"):
        model("prior", torch.zeros(1, 1, 16, 16), None)
