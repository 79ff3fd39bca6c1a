"""Adversarial autoencoder: which phase moves which group, the code discriminator's game, label-free encoder,
prior sampling, one-line config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.errors import GenlabError
from genlab.models.registry import get_family

TINY = {"base_channels": 8, "latent_dim": 3, "d_hidden": 16}


def tiny(num_classes=0, **kw):
    torch.manual_seed(0)
    return get_family("aae")((1, 16, 16), num_classes, **{**TINY, **kw})


def _step(model, phase, x, lr=1e-2):
    """One engine-like step: gradients of `phase`'s loss, Adam on that phase's group only."""
    groups = model.param_groups()
    opt = torch.optim.Adam(groups[phase], lr=lr)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    loss, logs = model(phase, x, None)
    loss.backward()
    opt.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    return loss, logs, moved


def test_discriminator_step_moves_only_d_and_model_step_moves_only_the_autoencoder():
    model = tiny()
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    _, logs, moved = _step(model, "discriminator", x)
    assert moved and all(n.startswith("discriminator.") for n in moved)
    assert {"d_loss", "d_prior", "d_code"} <= set(logs)
    model.zero_grad(set_to_none=True)
    loss, logs = model("model", x, None)
    loss.backward()
    assert all(p.grad is None for p in model.discriminator.parameters())  # D frozen while the encoder plays G
    _, _, moved = _step(model, "model", x)
    assert any(n.startswith("encoder.") for n in moved) and any(n.startswith("decoder.") for n in moved)
    assert not any(n.startswith("discriminator.") for n in moved)


def test_losses_are_the_code_space_gan_and_the_reconstruction():
    model = tiny(adv_weight=0.5)
    x = (torch.rand(4, 1, 16, 16) > 0.5).float() * 2 - 1
    torch.manual_seed(3)
    d_loss, _ = model("discriminator", x, None)
    torch.manual_seed(3)
    z = model.encode(x)
    d_prior, d_code = model.discriminator(torch.randn_like(z)), model.discriminator(z)
    expected = F.softplus(-d_prior).mean() + F.softplus(d_code).mean()  # −log D(z_p) − log(1 − D(E(x)))
    assert torch.allclose(d_loss, expected, atol=1e-6)
    loss, logs = model("model", x, None)
    out = model.decoder(z, None)
    recon = F.binary_cross_entropy_with_logits(out, (x + 1) / 2, reduction="sum") / 4
    assert torch.allclose(logs["recon"], recon, atol=1e-4)
    assert torch.allclose(loss, recon + 0.5 * F.softplus(-d_code).mean(), atol=1e-4)


def test_the_encoder_as_generator_pulls_codes_towards_what_d_calls_prior():
    """With D fixed to call codes near c = (3, 3, 3) "prior", the model phase moves the codes towards c."""
    model = tiny(adv_weight=1000.0)
    model.discriminator.forward = lambda z: -(z - 3.0).pow(2).sum(1)  # type: ignore[method-assign]
    x = torch.rand(16, 1, 16, 16) * 2 - 1
    before = (model.encode(x) - 3.0).pow(2).sum(1).mean()
    for _ in range(20):
        _step(model, "model", x, lr=1e-2)
    assert (model.encode(x) - 3.0).pow(2).sum(1).mean() < 0.5 * before


def test_encoder_ignores_labels_and_samples_come_from_the_prior():
    model = tiny(num_classes=3).eval()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    assert torch.equal(model.encode(x, torch.tensor([0, 1])), model.encode(x, torch.tensor([2, 2])))
    z = model.sample_latent([7, 8], temperature=0.5)
    assert z.shape == (2, 3) and torch.allclose(model.sample_latent([8], temperature=0.5), z[1:])
    assert torch.allclose(2 * z, model.sample_latent([7, 8]))
    assert model.generate([7, 8]).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("options, match", [
    ({"architecture": "fully_conv"}, "option 'architecture' = 'fully_conv' is not supported"),
    ({"adv_weight": -1.0}, "option 'adv_weight' = -1.0 must be in"),
    ({"likelihood": "laplace"}, "option 'likelihood' = 'laplace' is not one of bernoulli, gaussian"),
])
def test_config_errors_are_one_line(options, match):
    with pytest.raises(GenlabError, match=match) as err:
        tiny(**options)
    assert "\n" not in str(err.value)
