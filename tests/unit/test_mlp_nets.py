"""The "mlp" architecture (genlab.nn.mlp): shapes, option errors, a VAE with it trains, its IWAE log-weights are
finite, snapshots round-trip and the latent tools work on it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.checkpoints.snapshot import save_snapshot
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.latent import interpolate_seeds, reconstruction_errors
from genlab.metrics.likelihood import binarize_seeded, iwae_nll
from genlab.models.registry import get_family
from genlab.models.vae.model import VAE
from genlab.nn.convnets import ARCHITECTURES, ImageDecoder, ImageEncoder, latent_shape_for
from genlab.nn.mlp import MLP_ACTIVATIONS, MLPStack, make_activation

MLP = {"architecture": "mlp", "hidden_sizes": [32, 16], "activation": "tanh", "latent_dim": 5}
SHAPE = (1, 12, 12)


def test_mlp_is_in_the_architecture_table_and_its_latent_is_a_vector():
    assert "mlp" in ARCHITECTURES
    assert latent_shape_for("mlp", (1, 28, 28), 2, 50) == (50,)


def test_encoder_and_decoder_shapes_and_layer_sizes():
    enc = ImageEncoder((3, 10, 7), "mlp", out_size=8, num_down=0, base_channels=1, max_channels=1,
                       hidden_sizes=[20, 12], activation="elu")
    dec = ImageDecoder((3, 10, 7), "mlp", latent_size=4, num_down=0, base_channels=1, max_channels=1,
                       hidden_sizes=[20, 12], activation="elu", out_channels=6)
    assert enc(torch.randn(5, 3, 10, 7)).shape == (5, 8)
    assert dec(torch.randn(5, 4)).shape == (5, 6, 10, 7)
    enc_sizes = [(m.in_features, m.out_features) for m in enc.modules() if isinstance(m, nn.Linear)]
    dec_sizes = [(m.in_features, m.out_features) for m in dec.modules() if isinstance(m, nn.Linear)]
    assert enc_sizes == [(210, 20), (20, 12), (12, 8)]
    assert dec_sizes == [(4, 12), (12, 20), (20, 6 * 70)]  # the decoder mirrors the hidden sizes
    assert not any(isinstance(m, nn.Conv2d) for m in [*enc.modules(), *dec.modules()])
    assert sum(isinstance(m, nn.ELU) for m in enc.modules()) == 2


def test_the_encoder_reads_pixels_in_0_1_and_a_class_embedding_as_a_vector():
    enc = ImageEncoder((1, 2, 2), "mlp", out_size=1, num_down=0, base_channels=1, max_channels=1, cond_dim=3,
                       hidden_sizes=[1], activation="relu")
    with torch.no_grad():
        enc.convs[0].weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0]]))
        enc.convs[0].bias.zero_()
        enc.head.weight.fill_(1.0)
        enc.head.bias.zero_()
    x = torch.tensor([[[[1.0, -1.0], [1.0, -1.0]]]])  # model space: pixels on, off, on, off -> 1, 0, 1, 0
    enc.requires_grad_(False)
    assert float(enc(x, torch.tensor([[1.0, 0.0, 0.0]]))) == pytest.approx(1 + 3 + 10)
    assert float(enc(-x, torch.tensor([[0.0, 0.0, 1.0]]))) == pytest.approx(2 + 4 + 30)


@pytest.mark.parametrize("name", MLP_ACTIVATIONS)
def test_every_activation_builds(name):
    assert isinstance(make_activation(name), nn.Module)
    assert MLPStack(3, [4], name)(torch.randn(2, 3)).shape == (2, 4)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="activation must be one of .* got 'sigmoidish'"):
        make_activation("sigmoidish")
    for bad in ([], [0], [8, -1], [2.5]):
        with pytest.raises(ValueError, match="hidden_sizes must be a non-empty list of positive ints"):
            MLPStack(3, bad)
    for key, value, match in (("activation", "swishy", "option 'activation' = 'swishy' is not one of tanh"),
                              ("hidden_sizes", [], r"option 'hidden_sizes' = \[\] must be a non-empty list"),
                              ("hidden_sizes", [16, 0], r"option 'hidden_sizes' = \[16, 0\]"),
                              ("architecture", "mlpp", "option 'architecture' = 'mlpp' is not one of conv_dense")):
        with pytest.raises(GenlabError, match=match) as err:
            VAE(SHAPE, 0, **{**MLP, key: value})
        assert "\n" not in str(err.value)


def test_a_binarized_mlp_vae_trains_and_its_iwae_log_weights_are_finite():
    torch.manual_seed(0)
    model = VAE(SHAPE, 0, **MLP, likelihood="bernoulli", binarize="dynamic")
    assert model.latent_shape == (5,)
    x = torch.full((16, *SHAPE), -1.0)
    x[:, :, 3:9, 5:7] = 1.0  # a bar: a learnable binary pattern
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for step in range(60):
        model.set_step(step)
        loss, _ = model("model", x, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert math.isfinite(losses[-1]) and losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        log_w = model.log_importance_weights(x[:3], 7)
    assert log_w.shape == (3, 7) and torch.isfinite(log_w).all()
    res = iwae_nll(model, binarize_seeded(x[:4], 0), k=20, batch_size=2, chunk=8)
    assert math.isfinite(res.nll_nats) and res.n == 4
    assert res.nll_nats <= float(-log_w.mean()) + 5.0  # L_20 is not far below the mean single-sample bound


def test_iwae_objective_with_the_mlp_trains_a_step():
    model = VAE(SHAPE, 0, **MLP, objective="iwae", iwae_k=3)
    loss, logs = model("model", torch.rand(4, *SHAPE) * 2 - 1, None)
    loss.backward()
    assert math.isfinite(float(loss)) and logs["iwae_k"] == 3.0
    assert all(p.grad is not None for p in model.parameters())


def test_conditional_mlp_vae_and_the_latent_tools(tmp_path):
    torch.manual_seed(0)
    model = VAE(SHAPE, 3, **MLP)
    y = torch.tensor([0, 2])
    mu, logvar = model.encode(torch.rand(2, *SHAPE) * 2 - 1, y)
    assert mu.shape == logvar.shape == (2, 5)
    assert model.generate([1, 2]).shape == (2, *SHAPE)
    uncond = VAE(SHAPE, 0, **MLP).eval()
    strip = interpolate_seeds(uncond, 3, 7, steps=4)
    assert strip.shape == (4, *SHAPE)
    assert torch.allclose(strip[0], uncond.generate([3])[0], atol=1e-5)
    assert reconstruction_errors(uncond, torch.rand(3, *SHAPE) * 2 - 1).shape == (3,)


def test_an_mlp_vae_snapshot_rebuilds_with_its_options(tmp_path):
    torch.manual_seed(0)
    model = get_family("vae")(SHAPE, 0, **{**MLP, "activation": "elu", "hidden_sizes": [24, 8]}).eval()
    path = save_snapshot(tmp_path / "mlp.safetensors", model, {"channels": 1, "height": 12, "width": 12},
                         weights="raw")
    back = load_snapshot(path, family="vae").model.eval()
    assert back.cfg.hidden_sizes == [24, 8] and back.cfg.activation == "elu"
    z = torch.randn(2, 5)
    assert torch.allclose(back.decode(z), model.decode(z))


@pytest.mark.parametrize("name", ["mnist-vae-mlp-binary", "mnist-iwae-mlp-binary"])
def test_the_mlp_presets_build_burdas_784_200_200_50_network(name):
    from genlab.config.presets import resolve

    cfg = resolve(name)
    model = get_family(cfg.family)((1, 28, 28), 0, **vars(cfg.model))
    sizes = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert sizes == [(784, 200), (200, 200), (200, 100), (50, 200), (200, 200), (200, 784)]
    assert cfg.model.binarize == "dynamic" and cfg.model.likelihood == "bernoulli"
    assert cfg.model.objective == ("iwae" if "iwae" in name else "elbo")
