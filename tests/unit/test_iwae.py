"""IWAE log-likelihood (genlab.metrics.likelihood, VAE.log_importance_weights): L_1 is the ELBO of the same sample,
E[L_k] grows with k towards the exact log p(x) of a linear-Gaussian model, the VAE's log weights match a
hand-written log p(x, z) − log q(z | x), binarization, the API on a tiny snapshot and one-line errors for bad k."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.metrics.likelihood import binarize_seeded, check_k, iwae_bound, iwae_nll, logmeanexp
from genlab.models.registry import get_family
from tests_helpers import run_cli


class LinearGaussian(nn.Module):
    """p(z) = N(0, I_d), p(x | z) = N(W z + b, s² I): log p(x) = log N(x; b, W Wᵀ + s² I) exactly. The encoder
    q(z | x) has the true posterior mean but twice its variances and no correlations — not the true posterior, so
    L_1 < log p(x), yet wide enough for importance sampling to converge."""

    family = "toy"

    def __init__(self, d: int = 2, D: int = 4, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(D, d, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.randn(D, generator=g, dtype=torch.float64))
        self.s = 0.5
        post_cov = torch.linalg.inv(torch.eye(d, dtype=torch.float64) + self.W.T @ self.W / self.s**2).detach()
        self.A = post_cov @ self.W.detach().T / self.s**2  # posterior mean = A (x − b)
        self.q_std = (2 * post_cov.diagonal()).sqrt()

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.s**2 * torch.eye(self.W.shape[0], dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x).detach()

    def log_importance_weights(self, x, k, y=None):
        mu = ((x - self.b) @ self.A.T).detach()  # (N, d)
        z = mu.unsqueeze(1) + self.q_std * torch.randn(mu.shape[0], k, mu.shape[1], dtype=torch.float64)
        log_q = torch.distributions.Normal(mu.unsqueeze(1), self.q_std).log_prob(z).sum(-1)
        log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        mean_x = z @ self.W.T + self.b
        log_lik = torch.distributions.Normal(mean_x, self.s).log_prob(x.unsqueeze(1)).sum(-1)
        return (log_lik + log_p - log_q).detach()


def test_iwae_converges_to_the_exact_marginal_and_grows_with_k():
    toy = LinearGaussian()
    torch.manual_seed(0)
    z = torch.randn(64, 2, dtype=torch.float64)  # data drawn from the model itself
    x = z @ toy.W.detach().T + toy.b.detach() + 0.5 * torch.randn(64, 4, dtype=torch.float64)
    exact = toy.exact_log_px(x).mean().item()
    means = {}
    for k in (1, 10, 1000):
        torch.manual_seed(1)
        means[k] = iwae_bound(toy, x, k, chunk=128).double().mean().item()
    assert means[1] < means[10] < means[1000] <= exact + 0.02
    assert exact - means[1] > 0.1  # the mismatched encoder leaves a real gap at k = 1
    assert abs(means[1000] - exact) < 0.1 * (exact - means[1])  # ... that k = 1000 all but closes


def test_chunked_bound_equals_logmeanexp_of_all_weights():
    toy = LinearGaussian()
    x = torch.randn(5, 4, dtype=torch.float64)
    torch.manual_seed(3)
    chunked = iwae_bound(toy, x, 300, chunk=7)
    torch.manual_seed(3)
    parts = [toy.log_importance_weights(x, m) for m in [7] * 42 + [6]]
    whole = logmeanexp(torch.cat(parts, dim=1), dim=1)
    assert torch.allclose(chunked.double(), whole, atol=1e-4)


def _vae(**kw):
    torch.manual_seed(0)
    return get_family("vae")((1, 28, 28), 0, base_channels=8, latent_dim=4, **kw).eval()


def test_vae_log_weights_match_a_hand_written_joint_and_k1_is_the_elbo_sample():
    vae = _vae(likelihood="bernoulli")
    x = binarize_seeded(torch.rand(3, 1, 28, 28) * 2 - 1, seed=0)
    noise = torch.randn(3, 1, 4)
    with torch.no_grad():
        log_w = vae.log_importance_weights(x, 1, noise=noise)[:, 0]
        mu, logvar = vae.encode(x)
        z = mu + (0.5 * logvar).exp() * noise[:, 0]
        logits = vae.decoder(z, None)
        log_lik = torch.distributions.Bernoulli(logits=logits).log_prob((x + 1) / 2).flatten(1).sum(1)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
        log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    assert torch.allclose(log_w, log_lik + log_prior - log_q, atol=1e-3)
    # k = 1 is one ELBO sample: its mean over many draws approaches −(reconstruction NLL + analytic KL)
    with torch.no_grad():
        torch.manual_seed(0)
        many = vae.log_importance_weights(x[:1], 4000).mean().item()
        z_mc = mu[:1] + (0.5 * logvar[:1]).exp() * torch.randn(4000, 4)
        rec = torch.distributions.Bernoulli(logits=vae.decoder(z_mc, None)).log_prob(((x[:1] + 1) / 2)
                                                                                   .expand(4000, -1, -1, -1))
        kl = (0.5 * (mu[:1].pow(2) + logvar[:1].exp() - logvar[:1] - 1)).sum().item()
        elbo = rec.flatten(1).sum(1).mean().item() - kl
    assert abs(many - elbo) < 0.02 * abs(elbo)


def test_iwae_nll_reports_n_k_and_stderr_and_is_not_worse_with_more_samples():
    vae = _vae()
    x = binarize_seeded(torch.rand(6, 1, 28, 28) * 2 - 1, seed=1)
    r1 = iwae_nll(vae, x, 1, batch_size=4, seed=0, binarized=True)
    r50 = iwae_nll(vae, x, 50, batch_size=4, chunk=16, seed=0, binarized=True)
    assert (r1.n, r1.k, r50.k) == (6, 1, 50) and r50.stderr_nats > 0
    assert r50.nll_nats <= r1.nll_nats + 1.0  # −L_k is non-increasing in expectation
    assert r50.bits_per_dim == pytest.approx(r50.nll_nats / (784 * math.log(2)))


def test_binarization_is_seeded_and_binary():
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    a, b = binarize_seeded(x, 5), binarize_seeded(x, 5)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {-1.0, 1.0}
    grey = torch.full((1, 1, 200, 200), 0.5)  # intensity 0.75 → about 75 % of pixels on
    assert abs(float((binarize_seeded(grey, 0) > 0).float().mean()) - 0.75) < 0.02


def test_dynamic_binarization_and_iwae_objective_train():
    vae = _vae(binarize="dynamic", objective="iwae", iwae_k=3).train()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    loss, logs = vae("model", x, None)
    loss.backward()
    assert torch.isfinite(loss) and logs["iwae_k"] == 3.0
    with pytest.raises(GenlabError, match="binarize"):
        _vae(binarize="dynamic", likelihood="gaussian")


@pytest.mark.parametrize("bad", [0, -3, 100_001, 2.5, True, "10"])
def test_bad_k_is_a_one_line_error(bad):
    with pytest.raises(GenlabError, match="expected an integer in"):
        check_k(bad)


def test_cli_bad_k_and_k_on_a_diffusion_model_are_one_line(capsys):
    for args in (["likelihood", "mnist-vae", "--k", "0"], ["likelihood", "mnist-vae", "--k", "many"],
                 ["likelihood", "mnist-ddpm", "--k", "5"]):
        code, _, err = run_cli(args, capsys)
        assert code != 0 and err.startswith("genlab: error:") and len(err.strip().splitlines()) == 1, err


def test_api_on_a_tiny_vae_snapshot(tiny_data_dir, tmp_path, capsys):
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec

    snap = save_snapshot(tmp_path / "vae.safetensors", _vae(), ImageCodec(1, 28, 28).state(),
                         extra={"config": {"data": {"dataset": "mnist"}}, "step": 1})
    code, out, err = run_cli(["likelihood", str(snap), "--k", "4", "--n", "5", "--data-dir", str(tiny_data_dir),
                              "-q"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert (res["n"], res["k"], res["binarized"], res["family"]) == (5, 4, True, "vae")
    assert 0 < res["nll_nats"] < 784 * 5  # a finite, positive NLL in nats for 784 binary pixels
