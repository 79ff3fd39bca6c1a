"""ES-MDA: exact on a linear-Gaussian problem (large ensemble), α validation, latent conditioning plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.latent.esmda import condition_latent, esmda, esmda_alphas, tsvd_inverse, validate_alphas


def _linear_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    nm, nd = 4, 3
    g = rng.normal(size=(nd, nm))
    mu = rng.normal(size=nm)
    a = rng.normal(size=(nm, nm))
    cm = a @ a.T / nm + 0.5 * np.eye(nm)
    cd = np.array([0.1, 0.2, 0.05])
    m_true = rng.multivariate_normal(mu, cm)
    d_obs = g @ m_true + rng.normal(size=nd) * np.sqrt(cd)
    # Gauss–Markov posterior (Tarantola 2005, eq. 3.37–3.38)
    k = cm @ g.T @ np.linalg.inv(g @ cm @ g.T + np.diag(cd))
    return g, mu, cm, cd, d_obs, mu + k @ (d_obs - g @ mu), cm - k @ g @ cm


@pytest.mark.parametrize("kind", ["constant", "geometric"])
def test_linear_gaussian_matches_kalman_posterior(kind):
    g, mu, cm, cd, d_obs, post_mean, post_cov = _linear_problem()
    m0 = np.random.default_rng(1).multivariate_normal(mu, cm, size=20000)
    res = esmda(m0, lambda m: m @ g.T, d_obs, cd, alphas=esmda_alphas(4, kind), seed=2)
    assert np.allclose(res.m.mean(0), post_mean, atol=0.02)  # prior mean is ~0.5 away
    assert np.allclose(np.cov(res.m.T), post_cov, atol=0.02)  # prior cov is ~1 away
    hist = res.history
    assert len(hist) == 5 and hist[0].alpha == res.alphas[0] and hist[-1].alpha is None
    assert hist[-1].mismatch_mean < 0.5 * hist[0].mismatch_mean  # data mismatch reduced
    assert hist[-1].m_std < hist[0].m_std and hist[-1].d_std < hist[0].d_std  # spread shrinks, no blow-up


def test_alpha_schedules_and_validation():
    for kind in ("constant", "geometric"):
        a = esmda_alphas(5, kind)
        assert np.isclose(np.sum(1 / a), 1.0) and len(a) == 5
    assert np.all(np.diff(esmda_alphas(4, "geometric", 0.5)) < 0)
    assert validate_alphas([9.333, 7.0, 4.0, 2.0]).shape == (4,)  # Emerick & Reynolds 2013 schedule, rounded
    with pytest.raises(GenlabError, match="sum\\(1/alpha\\) = 1"):
        validate_alphas([2.0, 2.0, 2.0])
    with pytest.raises(GenlabError, match="> 0"):
        validate_alphas([-1.0, 0.5])
    with pytest.raises(GenlabError, match="unknown inflation"):
        esmda_alphas(3, "cubic")


def test_tsvd_inverse_full_rank_is_exact_and_truncates():
    a = np.random.default_rng(0).normal(size=(5, 5))
    c = a @ a.T + np.eye(5)
    assert np.allclose(tsvd_inverse(c, np.ones(5), energy=1.0), np.linalg.inv(c))
    low = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) + 1e-12 * np.eye(3)
    inv = tsvd_inverse(low, np.ones(3))
    assert np.all(np.isfinite(inv)) and np.abs(inv).max() < 1.0  # the tiny directions are dropped


def test_bad_shapes_are_user_errors():
    with pytest.raises(GenlabError, match="forward model returned shape"):
        esmda(np.zeros((10, 2)), lambda m: m, np.zeros(3), np.ones(3))
    with pytest.raises(GenlabError, match="covariance has shape"):
        esmda(np.zeros((10, 2)), lambda m: m, np.zeros(2), np.ones(3))


def test_condition_latent_moves_facies_towards_wells():
    # toy "generator": a vertical channel whose column is set by the latent; wells observe two columns
    def gen(z: torch.Tensor) -> torch.Tensor:
        cols = torch.arange(16.0)
        centre = 8 + 3 * z[:, 0]
        return torch.sigmoid(2.0 * (2.0 - (cols[None, :] - centre[:, None]).abs()))[:, None, :].expand(-1, 16, -1)

    def observe(f: np.ndarray) -> np.ndarray:
        return f[:, 5, [3, 12]]  # facies probability at two wells

    d_obs = np.array([1.0, 0.0])  # channel at column 3, not at 12 → centre near 3 → z ≈ −1.67
    z0 = torch.randn(200, 1, generator=torch.Generator().manual_seed(0))
    res, fac = condition_latent(
        gen,
        z0,
        observe,
        d_obs,
        cd=np.full(2, 0.01),
        n_assim=4,
        extras_fn=lambda f, d: {"well_match": float(np.mean((d > 0.5) == (d_obs > 0.5)))},
    )
    assert fac.shape == (200, 16, 16) and res.m.shape == (200, 1)
    assert res.history[-1].extras["well_match"] > res.history[0].extras["well_match"]
    assert res.history[-1].extras["well_match"] > 0.9 and abs(np.median(res.m) + 5 / 3) < 0.5
