"""Autoencoder families (ae, dae, sparse-ae): corruption statistics, sparsity penalties, code prior, shapes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.model import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from genlab.models.autoencoder.regularizers import corrupt, kl_sparsity, l1_sparsity
from genlab.models.registry import get_family

TINY = {"base_channels": 4, "max_channels": 16, "latent_dim": 6, "latent_channels": 2, "class_embed_dim": 4}
SHAPE = (1, 16, 16)


def build(cls=Autoencoder, num_classes=0, **kw):
    torch.manual_seed(0)
    return cls(SHAPE, num_classes, **{**TINY, **kw})


def batch(n=4):
    return torch.rand(n, *SHAPE) * 2 - 1


def test_masking_sets_the_requested_fraction_to_off():
    torch.manual_seed(1)
    x = torch.ones(200_000)
    out = corrupt(x, "masking", 0.25)
    assert set(out.unique().tolist()) == {-1.0, 1.0}
    assert (out == -1).float().mean().item() == pytest.approx(0.25, abs=0.005)


def test_salt_and_pepper_statistics():
    torch.manual_seed(2)
    x = torch.zeros(200_000)
    out = corrupt(x, "salt_pepper", 0.2)
    assert (out != 0).float().mean().item() == pytest.approx(0.2, abs=0.005)
    assert (out == 1).float().mean().item() == pytest.approx(0.1, abs=0.005)
    assert (out == -1).float().mean().item() == pytest.approx(0.1, abs=0.005)


def test_gaussian_corruption_has_the_requested_std_and_stays_in_range():
    torch.manual_seed(3)
    out = corrupt(torch.zeros(200_000), "gaussian", 0.1)
    assert out.std().item() == pytest.approx(0.1, rel=0.02)
    assert corrupt(torch.ones(1000), "gaussian", 1.0).max() <= 1.0
    x = batch()
    assert corrupt(x, "none", 0.5) is x


def test_sparsity_penalties_on_known_cases():
    code = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    assert l1_sparsity(code).item() == pytest.approx(3.0)  # (3 + 3) / 2 images
    assert kl_sparsity(torch.full((4, 5), 0.05), 0.05).item() == pytest.approx(0.0, abs=1e-6)
    rho, rho_hat = 0.05, 0.5
    one = rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))
    assert kl_sparsity(torch.full((4, 3), 0.5), rho).item() == pytest.approx(3 * one, rel=1e-5)


@pytest.mark.parametrize("cls", [Autoencoder, DenoisingAutoencoder, SparseAutoencoder])
@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
def test_every_family_trains_and_samples(cls, arch):
    model = build(cls, architecture=arch)
    loss, _ = model("model", batch(), None)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    x = model.generate([1, 2])
    assert x.shape == (2, *SHAPE) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(model.generate([2])[0], x[1], atol=1e-6)


def test_sparse_penalty_enters_the_loss():
    plain = build(SparseAutoencoder, sparsity_weight=0.0)
    sparse = build(SparseAutoencoder, sparsity_weight=2.0)
    x = batch()
    torch.manual_seed(0)
    loss0, _ = plain("model", x, None)
    torch.manual_seed(0)
    loss2, logs2 = sparse("model", x, None)
    assert (loss2 - loss0).item() == pytest.approx(2.0 * logs2["sparsity"].item(), rel=1e-4)
    kl_model = build(SparseAutoencoder, sparsity="kl", sparsity_weight=3.0)
    code = kl_model.encode(x)
    assert code.min() > 0 and code.max() < 1


def test_code_statistics_track_training_codes():
    model = build(code_momentum=1.0)
    x = batch(8)
    model("model", x, None)
    code = model.encode(x)
    assert torch.allclose(model.code_mean, code.mean(0), atol=1e-5)
    assert torch.allclose(model.code_var, code.var(0, unbiased=False), atol=1e-5)
    flat = code.flatten(1)
    assert torch.allclose(model.code_cov, torch.cov(flat.T, correction=0), atol=1e-5)


def test_samples_follow_the_fitted_code_covariance():
    """Codes drawn by generate() have the fitted mean and (correlated) covariance, not just its diagonal."""
    model = build()
    d = model.code_mean.numel()
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(0)) / d**0.5
    cov = a @ a.T + 0.1 * torch.eye(d)
    model.code_mean.copy_(torch.arange(d, dtype=torch.float32).view(model.latent_shape) / d)
    model.code_cov.copy_(cov)
    z = model.sample_latent(list(range(20000))).flatten(1)
    assert torch.allclose(z.mean(0), model.code_mean.flatten(), atol=0.05)
    assert (torch.cov(z.T) - cov).abs().max() < 0.08
    assert model.sample_latent([7]).equal(model.sample_latent([3, 7])[1:])  # per-seed determinism


def test_old_snapshots_without_covariance_sample_from_their_diagonal():
    model = build()
    state = {k: v for k, v in model.state_dict().items() if k != "code_cov"}
    state["code_var"] = torch.full_like(state["code_var"], 4.0)
    fresh = build()
    fresh.load_state_dict(state)
    assert fresh.code_cov.equal(torch.diag(torch.full((model.code_mean.numel(),), 4.0)))


def test_fully_conv_autoencoder_has_no_linear_layer():
    model = build(architecture="fully_conv", num_classes=2)
    assert not [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert model.latent_shape == (2, 4, 4)


def test_registered_names_and_validation():
    assert get_family("dae").Config().corruption == "gaussian"
    assert get_family("sparse-ae").Config().sparsity == "l1"
    with pytest.raises(GenlabError, match="corruption"):
        build(corruption="blur")
    with pytest.raises(GenlabError, match="corruption_level"):
        build(corruption="masking", corruption_level=1.5)
