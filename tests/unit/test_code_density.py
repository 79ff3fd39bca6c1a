"""The Gaussian mixture autoencoders sample their codes from (genlab.models.autoencoder.density) and its use in
the autoencoder families."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.autoencoder.density import fit_gmm, mixture_log_prob, sample_gmm
from genlab.models.autoencoder.model import Autoencoder, SparseAutoencoder

TINY = {"base_channels": 4, "max_channels": 16, "latent_dim": 3}
SHAPE = (1, 16, 16)


def two_clusters(n=4000, seed=1):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(3 * n // 4, 2, generator=g) @ torch.tensor([[0.3, 0.0], [0.2, 0.1]]) + torch.tensor([3.0, 0.0])
    b = torch.randn(n // 4, 2, generator=g) * 0.5 + torch.tensor([-3.0, 1.0])
    return torch.cat([a, b]), a, b


def test_em_recovers_a_two_component_mixture():
    x, a, b = two_clusters()
    fit = fit_gmm(x, components=2)
    order = fit.means[:, 0].argsort(descending=True)  # component of cluster a first
    w, mu, chol = fit.weights[order], fit.means[order], fit.chol[order]
    assert torch.allclose(w, torch.tensor([0.75, 0.25]), atol=0.01)
    assert torch.allclose(mu[0], a.mean(0), atol=0.02) and torch.allclose(mu[1], b.mean(0), atol=0.02)
    cov = chol @ chol.transpose(1, 2)
    assert torch.allclose(cov[0], torch.cov(a.T), atol=0.01) and torch.allclose(cov[1], torch.cov(b.T), atol=0.02)
    # two components explain the data far better than one
    assert fit.log_likelihood > fit_gmm(x, components=1).log_likelihood + 1.0


def test_fit_is_reproducible_and_checks_its_input():
    x, _, _ = two_clusters(800)
    f1, f2 = fit_gmm(x, 3, seed=5), fit_gmm(x, 3, seed=5)
    assert f1.means.equal(f2.means) and f1.chol.equal(f2.chol)
    assert fit_gmm(x[:2], 10).weights.shape == (2,)  # never more components than codes
    with pytest.raises(ValueError, match="codes of shape"):
        fit_gmm(torch.zeros(5), 2)


def test_mixture_log_prob_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(3, 4, generator=g)
    a = torch.randn(3, 4, 4, generator=g)
    cov = a @ a.transpose(1, 2) + 0.5 * torch.eye(4)
    chol = torch.linalg.cholesky(cov)
    weights = torch.tensor([0.2, 0.5, 0.3])
    x = torch.randn(50, 4, generator=g)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(weights),
                                                torch.distributions.MultivariateNormal(means, scale_tril=chol))
    assert torch.allclose(mixture_log_prob(x, weights, means, chol), mix.log_prob(x), atol=1e-4)


def test_sampling_picks_components_by_weight_and_row_by_row():
    weights = torch.tensor([0.1, 0.6, 0.3])
    means = torch.tensor([[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]])
    chol = torch.eye(2).expand(3, 2, 2) * 0.1
    noise = torch.randn(20000, 3, generator=torch.Generator().manual_seed(0))
    z = sample_gmm(noise, weights, means, chol)
    comp = torch.bucketize(z[:, 0].contiguous(), torch.tensor([-5.0, 5.0]))
    freq = torch.bincount(comp, minlength=3).float() / len(z)
    assert torch.allclose(freq, weights, atol=0.015)
    assert sample_gmm(noise[5:6], weights, means, chol).equal(z[5:6])
    cold = sample_gmm(noise[:10], weights, means, chol, temperature=0.0)
    assert all(any(row.equal(m) for m in means) for row in cold)


def build(cls=Autoencoder, **kw):
    torch.manual_seed(0)
    return cls(SHAPE, 0, **{**TINY, **kw})


def test_autoencoder_samples_from_the_fitted_mixture():
    model = build(density_components=4)
    x = torch.rand(64, *SHAPE) * 2 - 1
    assert not model.density_fitted
    gaussian = model.sample_latent([1, 2])
    stats = model.fit_density(x, seed=0)
    assert model.density_fitted and math.isfinite(stats["density_log_likelihood"])
    assert torch.isclose(model.gmm_weights.sum(), torch.tensor(1.0))
    z = model.sample_latent(list(range(500))).flatten(1)
    codes = model.encode(x).flatten(1)
    # mixture samples lie near the codes they were fitted to, unlike the untrained running Gaussian's
    near = torch.cdist(z, codes).min(1).values.median()
    assert near < torch.cdist(codes, codes).topk(2, largest=False).values[:, 1].median() * 3
    assert not model.sample_latent([1, 2]).equal(gaussian)
    assert model.sample_latent([7]).equal(model.sample_latent([3, 7])[1:])
    assert model.generate([0, 1]).shape == (2, *SHAPE)


def test_gaussian_code_density_is_left_alone():
    model = build(SparseAutoencoder, code_density="gaussian")
    before = model.sample_latent([4])
    assert model.fit_density(torch.rand(16, *SHAPE) * 2 - 1) == {}
    assert not model.density_fitted and model.sample_latent([4]).equal(before)


def test_state_without_a_mixture_loads_as_not_fitted():
    fitted = build()
    fitted.fit_density(torch.rand(32, *SHAPE) * 2 - 1)
    old = {k: v for k, v in fitted.state_dict().items() if not k.startswith("gmm_")}
    fresh = build()
    fresh.load_state_dict(old)
    assert not fresh.density_fitted
    fresh.load_state_dict(fitted.state_dict())
    assert fresh.density_fitted and fresh.sample_latent([3]).equal(fitted.sample_latent([3]))
