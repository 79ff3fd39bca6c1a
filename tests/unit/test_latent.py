"""Latent tools: interpolation, arithmetic, projections, anomaly scores and VAE regularity on constructed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from genlab.errors import GenlabError
from genlab.latent import (
    active_units,
    aggregate_posterior,
    anomaly_report,
    anomaly_scores,
    apply_vector,
    attribute_vector,
    class_means,
    interpolate_images,
    interpolate_seeds,
    latent_projection,
    lerp,
    project_2d,
    reconstruction_errors,
    regularity_report,
    regularity_stats,
    save_interpolation_strip,
    score_held_out_classes,
    slerp,
)
from genlab.latent.regularity import frechet_to_standard_normal, kl_gaussian_to_standard_normal
from genlab.models.autoencoder.model import Autoencoder
from genlab.models.gan.model import GAN
from genlab.models.vae.model import VAE

TINY = {"base_channels": 4, "max_channels": 16, "latent_dim": 6, "latent_channels": 2}
SHAPE = (1, 16, 16)


def tiny(cls, **kw):
    torch.manual_seed(0)
    return cls(SHAPE, 0, **{**TINY, **kw})


class ColumnModel(nn.Module):
    """A 'perfect' autoencoder for images that are zero outside their first two columns."""

    family = "column"
    has_latent = True
    latent_shape = (1, 4, 2)

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x, y=None):
        return x[..., :2]

    def decode(self, z, y=None):
        return torch.nn.functional.pad(z, (0, 2))


# --- interpolation -------------------------------------------------------------------------------------------------
def test_slerp_hits_endpoints_and_keeps_the_norm():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a, atol=1e-6) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0), atol=1e-5)
    assert torch.allclose(path[2], torch.tensor([3 / math.sqrt(2), 3 / math.sqrt(2)]), atol=1e-5)
    assert torch.allclose(lerp(a, b, torch.tensor([0.5]))[0], torch.tensor([1.5, 1.5]))
    assert torch.allclose(slerp(a, 2 * a, torch.tensor([0.5]))[0], 1.5 * a)  # parallel: falls back to lerp


@pytest.mark.parametrize("cls", [VAE, GAN])
def test_seed_interpolation_ends_at_the_generated_samples(cls, tmp_path):
    model = tiny(cls, architecture="fully_conv")
    strip = interpolate_seeds(model, 3, 7, steps=4)
    assert strip.shape == (4, *SHAPE)
    assert torch.allclose(strip[0], model.generate([3])[0], atol=1e-5)
    assert torch.allclose(strip[-1], model.generate([7])[0], atol=1e-5)
    path = save_interpolation_strip(torch.stack([strip, strip]), tmp_path / "strip.png", scale=1)
    assert Image.open(path).size == (4 * 18 + 2, 2 * 18 + 2)


def test_image_interpolation_ends_at_the_reconstructions():
    model = tiny(Autoencoder)
    x = torch.rand(2, *SHAPE) * 2 - 1
    strip = interpolate_images(model, x[0], x[1], steps=3)
    with torch.no_grad():
        assert torch.allclose(strip[-1], model.reconstruct(x[1:])[0], atol=1e-5)
    with pytest.raises(GenlabError, match="steps"):
        interpolate_images(model, x[0], x[1], steps=1)


def test_gan_inversion_fits_better_than_the_origin():
    model = tiny(GAN)
    target = model.generate([11])
    z = model.encode(target, steps=30)
    with torch.no_grad():
        err_fit = (model.decode(z) - target).pow(2).mean()
        err_zero = (model.decode(torch.zeros_like(z)) - target).pow(2).mean()
    assert err_fit < 0.5 * err_zero


# --- arithmetic ----------------------------------------------------------------------------------------------------
def test_class_means_and_attribute_vector():
    codes = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    means = class_means(codes, torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(means[0], torch.tensor([1.0, 0.0])) and torch.allclose(means[1], torch.tensor([0.0, 5.0]))
    assert torch.allclose(attribute_vector(means, 0, 1), torch.tensor([-1.0, 5.0]))
    with pytest.raises(GenlabError, match="class 7"):
        attribute_vector(means, 0, 7)
    model = ColumnModel()
    z = torch.zeros(2, 1, 4, 2)
    out = apply_vector(model, z, torch.ones(1, 4, 2), scales=(0.0, 0.5))
    assert out.shape == (2, 2, 1, 4, 4)
    assert out[:, 0].abs().sum() == 0 and torch.allclose(out[:, 1, ..., :2], torch.full((2, 1, 4, 2), 0.5))


# --- projections ---------------------------------------------------------------------------------------------------
def test_pca_recovers_a_planar_cloud_up_to_rotation(tmp_path):
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(50, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(5, 2)))[0]  # orthonormal 5x2
    points = project_2d(plane @ basis.T, "pca")
    d_in = np.linalg.norm(plane[:, None] - plane[None], axis=-1)
    d_out = np.linalg.norm(points[:, None] - points[None], axis=-1)
    assert np.allclose(d_in, d_out, atol=1e-8)
    assert points[:, 0].var() > points[:, 1].var()


@pytest.mark.slow  # importing scikit-learn's t-SNE takes seconds on a loaded CPU
def test_tsne_and_labelled_plot(tmp_path):
    model = tiny(VAE)
    x, y = torch.rand(24, *SHAPE) * 2 - 1, torch.arange(24) % 3
    points = latent_projection(model, x, y, tmp_path / "tsne.png", method="tsne")
    assert points.shape == (24, 2) and np.isfinite(points).all()
    assert Image.open(tmp_path / "tsne.png").size[0] > 100
    with pytest.raises(GenlabError, match="projection"):
        project_2d(np.zeros((4, 3)), "isomap")


# --- anomaly detection ---------------------------------------------------------------------------------------------
def test_anomaly_report_on_separable_scores():
    scores = np.array([0.1, 0.2, 0.15, 0.9, 1.0])
    flags = np.array([False, False, False, True, True])
    report = anomaly_report(scores, flags, threshold=0.5)
    assert (report.roc_auc, report.precision, report.recall, report.f1) == (1.0, 1.0, 1.0, 1.0)
    assert report.num_normal == 3 and report.num_anomalous == 2
    with pytest.raises(GenlabError, match="both"):
        anomaly_report(scores, np.zeros(5, bool))


def test_reconstruction_error_separates_held_out_classes():
    x = torch.zeros(10, 1, 4, 4)
    labels = torch.tensor([0] * 6 + [1] * 4)
    x[:6, ..., :2] = torch.rand(6, 1, 4, 2)  # class 0 lives in the model's subspace
    x[6:] = torch.rand(4, 1, 4, 4) + 0.1  # class 1 does not
    errors = reconstruction_errors(ColumnModel(), x)
    assert errors[:6].abs().max() == 0 and errors[6:].min() > 0
    report = score_held_out_classes(ColumnModel(), x, labels, normal_classes=[0])
    assert report.roc_auc == 1.0 and report.recall == 1.0


def test_vae_negative_elbo_is_reconstruction_plus_kl():
    from genlab.models.autoencoder.common import reconstruction_nll
    from genlab.models.vae.losses import kl_to_standard_normal
    from genlab.models.vae.model import VAE

    torch.manual_seed(0)
    vae = VAE((1, 8, 8), base_channels=4, latent_dim=3, likelihood="bernoulli").eval()
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        expected = reconstruction_nll(vae.decoder(mu, None), x, "bernoulli", 1.0) + kl_to_standard_normal(
            mu, logvar).sum(1)
        got = anomaly_scores(vae, x, score="elbo", batch_size=2)
    assert got.shape == (5,) and torch.allclose(got, expected, atol=1e-4)
    assert torch.allclose(anomaly_scores(vae, x, score="latent"), 0.5 * mu.pow(2).sum(1), atol=1e-6)


# --- VAE regularity ------------------------------------------------------------------------------------------------
def test_active_units_on_a_constructed_case():
    torch.manual_seed(0)
    mu = torch.cat([torch.randn(500, 3), 0.001 * torch.randn(500, 2)], dim=1)
    count, var = active_units(mu)
    assert count == 3 and var.shape == (5,)


def test_aggregate_posterior_and_distances_to_the_prior():
    torch.manual_seed(0)
    mu = math.sqrt(0.5) * torch.randn(20000, 3)
    logvar = torch.full((20000, 3), math.log(0.5))  # total covariance 0.5 I + 0.5 I = I
    mean, cov = aggregate_posterior(mu, logvar)
    assert torch.allclose(cov, torch.eye(3, dtype=cov.dtype), atol=0.03)
    assert frechet_to_standard_normal(mean, cov) < 1e-3
    shifted = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    assert frechet_to_standard_normal(shifted, eye) == pytest.approx(5.0)
    assert kl_gaussian_to_standard_normal(shifted, eye) == pytest.approx(2.5)
    assert kl_gaussian_to_standard_normal(torch.zeros(2), 4 * torch.eye(2)) == pytest.approx(4 - 1 - math.log(4))


def test_regularity_report_of_a_vae_and_refusal_for_an_ae():
    stats = regularity_stats(torch.zeros(8, 4), torch.zeros(8, 4))
    assert stats["kl_total"] == 0.0 and stats["active_units"] == 0
    model = tiny(VAE, architecture="fully_conv")
    report = regularity_report(model, torch.rand(16, *SHAPE) * 2 - 1)
    assert report["num_dims"] == math.prod(model.latent_shape) == len(report["kl_per_dim"])
    assert report["frechet_to_prior"] >= 0
    with pytest.raises(GenlabError, match="deterministic"):
        regularity_report(tiny(Autoencoder), torch.rand(4, *SHAPE))
