"""VAE-GAN: the discriminator-feature reconstruction loss, which phase moves which group, no GAN gradient into the
encoder, the VAE's latent interface kept, one-line config errors."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.registry import get_family

TINY = {"base_channels": 8, "latent_dim": 4, "d_base_channels": 8}


def tiny(num_classes=0, **kw):
    torch.manual_seed(0)
    return get_family("vae-gan")((1, 16, 16), num_classes, **{**TINY, **kw})


def test_feature_loss_is_half_the_squared_distance_of_discriminator_features():
    model = tiny(feature_sigma=2.0)
    x, x_rec = torch.rand(3, 1, 16, 16) * 2 - 1, torch.rand(3, 1, 16, 16) * 2 - 1
    assert torch.allclose(model.feature_loss(x, x), torch.zeros(3))  # train mode: one spectral-norm iteration
    model.eval()
    loss = model.feature_loss(x, x_rec)
    expected = 0.5 * (model.features(x) - model.features(x_rec)).pow(2).flatten(1).sum(1) / 4.0
    assert loss.shape == (3,) and torch.allclose(loss, expected, atol=1e-5)
    assert torch.allclose(model.feature_loss(x, x), torch.zeros(3))
    # the target side is detached: gradients reach x_rec only
    x_req, rec_req = x.clone().requires_grad_(True), x_rec.clone().requires_grad_(True)
    model.feature_loss(x_req, rec_req).sum().backward()
    assert (x_req.grad is None or x_req.grad.abs().sum() == 0) and rec_req.grad.abs().sum() > 0


def test_phases_move_their_own_groups():
    model = tiny()
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    groups = model.param_groups()
    assert set(groups) == {"model", "discriminator"} and model.phases(0) == ["discriminator", "model"]
    d_ids = {id(p) for p in groups["discriminator"]}
    assert not d_ids & {id(p) for p in groups["model"]}
    assert len(d_ids) + len(groups["model"]) == len(list(model.parameters()))
    model.zero_grad(set_to_none=True)
    loss, logs = model("discriminator", x, None)
    loss.backward()
    assert all(p.grad is None for p in groups["model"])
    assert all(p.grad is not None for p in groups["discriminator"])
    assert {"d_loss", "d_real", "d_fake"} <= set(logs)
    model.zero_grad(set_to_none=True)
    loss, logs = model("model", x, None)
    loss.backward()
    assert all(p.grad is None for p in groups["discriminator"])
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert {"kl", "feature", "pixel", "g_loss"} <= set(logs)


def test_the_adversarial_term_trains_the_decoder_but_not_the_encoder():
    model = tiny()
    model.cfg.feature_weight, model.cfg.pixel_weight, model.cfg.beta = 0.0, 0.0, 0.0  # only the GAN term left
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    model.zero_grad(set_to_none=True)
    loss, logs = model("model", x, None)
    assert torch.isclose(loss, torch.as_tensor(logs["g_loss"]))
    loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())


def test_the_vae_latent_interface_is_kept():
    model = tiny(num_classes=2).eval()
    x = (torch.rand(3, 1, 16, 16) > 0.5).float() * 2 - 1
    y = torch.tensor([0, 1, 1])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (3, 4)
    assert model.log_importance_weights(x, 5, y).shape == (3, 5)
    assert model.negative_elbo(x, y).shape == (3,)
    z = model.sample_latent([1, 2])
    assert torch.allclose(model.generate([1, 2], torch.tensor([0, 1])), model.decode(z, torch.tensor([0, 1])))


@pytest.mark.parametrize("options, match", [
    ({"feature_weight": 0.0, "pixel_weight": 0.0}, "feature_weight and pixel_weight are both 0"),
    ({"objective": "iwae"}, "options 'objective' and 'binarize' are the VAE's"),
    ({"tc_beta": 4.0}, "options 'tc_beta' and 'perceptual_weight' shape the VAE's own loss"),
    ({"feature_sigma": 0.0}, "option 'feature_sigma' = 0.0 must be in"),
    ({"d_base_channels": "wide"}, "option 'd_base_channels' = 'wide' is not int"),
    ({"upsample": "bilinear"}, "option 'upsample' = 'bilinear' is not one of transpose, nearest"),
])
def test_config_errors_are_one_line(options, match):
    with pytest.raises(GenlabError, match=match) as err:
        tiny(**options)
    assert "\n" not in str(err.value)


def test_nearest_upsampling_decoder_has_the_right_shapes_and_no_transposed_conv():
    from torch import nn

    for shape in ((1, 16, 16), (1, 15, 15), (1, 28, 28)):  # even and odd sides
        torch.manual_seed(0)
        model = get_family("vae-gan")(shape, 0, **TINY, upsample="nearest").eval()
        kinds = {type(m) for m in model.decoder.modules()}
        assert nn.ConvTranspose2d not in kinds and nn.Upsample in kinds
        assert model.generate([0, 1, 2]).shape == (3, *shape)
        mu, _ = model.encode(torch.rand(2, *shape) * 2 - 1)
        assert model.decode(mu).shape == (2, *shape)
    # the default is the VAE's transposed-conv decoder, parameter for parameter (older snapshots load unchanged)
    default = tiny()
    vae = get_family("vae")((1, 16, 16), 0, base_channels=8, latent_dim=4)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in default.decoder.modules())
    assert {k: v.shape for k, v in default.decoder.state_dict().items()} == \
        {k: v.shape for k, v in vae.decoder.state_dict().items()}


def test_nearest_upsampling_has_no_checkerboard_on_a_constant_input():
    """A constant low-resolution map: away from the zero-padded border, nearest ×2 + 3×3 conv decodes it to a
    constant image, while 4×4 stride-2 transposed convs with the same kind of random weights leave a period-2
    pattern per level (each output parity sums its own 2×2 sub-kernel; Odena et al. 2016)."""
    from genlab.nn.convnets import ConvDecoder

    channels, sizes = [4, 4, 4], [(32, 32), (16, 16), (8, 8)]
    h = torch.ones(1, 4, 8, 8)
    spread, centre = {}, {}
    for upsample in ("transpose", "nearest"):
        torch.manual_seed(0)
        dec = ConvDecoder(channels, sizes, 1, norm="none", upsample=upsample)
        with torch.no_grad():
            for p in dec.parameters():  # biases too, so no ReLU leaves a whole channel at zero
                p.uniform_(0.05, 0.3)
            out = dec(h)[0, 0, 8:24, 8:24]  # the centre, beyond the border's reach
        assert out.shape == (16, 16)
        spread[upsample], centre[upsample] = float(out.std() / out.mean()), out
    assert spread["nearest"] < 1e-5 and spread["transpose"] > 1e-3, spread
    tiles = centre["transpose"].unfold(0, 4, 4).unfold(1, 4, 4)  # two ×2 levels: period 4
    assert torch.allclose(tiles, tiles[:1, :1].expand_as(tiles), rtol=1e-4)  # every tile the same pattern
