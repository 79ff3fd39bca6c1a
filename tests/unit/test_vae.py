"""VAE family: ELBO terms on known cases, schedules, both architectures, conditioning, determinism."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import output_to_image, reconstruction_nll
from genlab.models.registry import get_family
from genlab.models.vae.losses import free_bits_kl, kl_per_dimension, kl_to_standard_normal, kl_weight
from genlab.models.vae.model import VAE

TINY = {"base_channels": 4, "max_channels": 16, "latent_dim": 6, "latent_channels": 2, "class_embed_dim": 4}
SHAPE = (1, 16, 16)


def build(num_classes=0, shape=SHAPE, **kw):
    torch.manual_seed(0)
    return VAE(shape, num_classes, **{**TINY, **kw})


def binary_batch(n=4, shape=SHAPE):
    return (torch.rand(n, *shape) > 0.7).float() * 2 - 1


def test_kl_on_known_cases():
    mu = torch.tensor([[0.0, 1.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0, math.log(4.0)]])
    expected = [0.0, 0.5, 0.5 * (4.0 - math.log(4.0) - 1.0)]
    assert kl_to_standard_normal(mu, logvar)[0].tolist() == pytest.approx(expected)
    assert kl_per_dimension(mu.repeat(3, 1), logvar.repeat(3, 1)).tolist() == pytest.approx(expected)


def test_free_bits_floor_each_dimension():
    kl_dims = torch.tensor([0.01, 2.0, 0.3])
    assert free_bits_kl(kl_dims, 0.5).item() == pytest.approx(0.5 + 2.0 + 0.5)
    assert free_bits_kl(kl_dims, 0.0).item() == pytest.approx(2.31)
    # a dimension under the floor gets no gradient: nothing to gain by collapsing it further
    k = kl_dims.clone().requires_grad_(True)
    free_bits_kl(k, 0.5).backward()
    assert k.grad.tolist() == [0.0, 1.0, 0.0]


def test_kl_annealing_schedule():
    assert kl_weight(0, 2.0, 100) == 0.0
    assert kl_weight(50, 2.0, 100) == pytest.approx(1.0)
    assert kl_weight(1000, 2.0, 100) == pytest.approx(2.0)
    assert kl_weight(0, 2.0, 0) == 2.0


def test_model_reads_the_step_from_phases():
    model = build(kl_warmup_steps=10, beta=4.0)
    model.phases(0)
    assert model("model", binary_batch(), None)[1]["beta"] == 0.0
    model.phases(5)
    assert model("model", binary_batch(), None)[1]["beta"] == pytest.approx(2.0)


def test_bernoulli_likelihood_reads_targets_as_binary():
    x = binary_batch(2)
    nll = reconstruction_nll(torch.zeros_like(x), x, "bernoulli", 0.0)
    assert nll.tolist() == pytest.approx([256 * math.log(2)] * 2)  # logit 0 → log 2 nats per pixel
    assert output_to_image(torch.tensor([0.0, 50.0, -50.0]), "bernoulli").tolist() == pytest.approx([0, 1, -1])
    gauss = reconstruction_nll(x, x, "gaussian", 1.0)
    assert gauss.tolist() == pytest.approx([256 * 0.5 * math.log(2 * math.pi)] * 2)


@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_is_finite_and_reaches_every_parameter(arch, likelihood):
    model = build(architecture=arch, likelihood=likelihood, free_bits=0.1, gaussian_sigma=0.0)
    loss, logs = model("model", binary_batch(), None)
    assert torch.isfinite(loss) and logs["kl"] >= 0
    assert logs["elbo"] == pytest.approx(-(logs["recon"] + logs["kl"]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64)])
def test_encode_decode_generate_shapes(arch, shape):
    model = build(architecture=arch, shape=shape)
    mu, logvar = model.encode(binary_batch(3, shape))
    assert mu.shape == logvar.shape == (3, *model.latent_shape)
    x = model.generate([1, 2, 3])
    assert x.shape == (3, *shape) and x.min() >= -1 and x.max() <= 1
    assert model.reconstruct(binary_batch(3, shape)).shape == (3, *shape)


def test_fully_conv_vae_has_no_linear_layer_and_a_spatial_latent():
    model = build(architecture="fully_conv", num_classes=3, shape=(1, 128, 128), base_channels=2, max_channels=8)
    assert not [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert model.latent_shape == (2, 4, 4)
    assert any(isinstance(m, nn.Linear) for m in build(architecture="conv_dense").modules())


def test_sample_depends_only_on_its_seed():
    model = build()
    grid = model.generate([8, 9, 10])
    assert torch.allclose(model.generate([9])[0], grid[1], atol=1e-6)


def test_conditional_vae():
    model = build(num_classes=3)
    y = torch.tensor([0, 1, 2, 0])
    assert torch.isfinite(model("model", binary_batch(), y)[0])
    two = model.generate([4, 4], labels=torch.tensor([0, 2]))
    assert not torch.allclose(two[0], two[1])
    with pytest.raises(GenlabError, match="conditional"):
        model.encode(binary_batch())


def test_options_are_validated_and_rebuild_from_json():
    with pytest.raises(GenlabError, match="likelihood"):
        build(likelihood="poisson")
    with pytest.raises(GenlabError, match="architecture"):
        build(architecture="dense")
    model = build(architecture="fully_conv", beta=2.0)
    clone = get_family("vae")(**json.loads(json.dumps(model.constructor_kwargs())))
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.generate([1, 2]), model.generate([1, 2]))
