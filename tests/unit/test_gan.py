"""GAN families (dcgan, wgan-gp): contract behaviour, phase isolation, losses and penalties on known cases."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.gan.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    instance_noise_sigma,
    r1_penalty,
)
from genlab.models.gan.model import GAN, WGANGP
from genlab.models.registry import get_family

TINY = {"base_channels": 4, "max_channels": 16, "latent_dim": 8, "latent_channels": 2, "class_embed_dim": 4}
SHAPE = (1, 16, 16)


def build(cls=GAN, num_classes=0, shape=SHAPE, **kw):
    torch.manual_seed(0)
    return cls(shape, num_classes, **{**TINY, **kw})


def batch(n=4, shape=SHAPE):
    return torch.rand(n, *shape) * 2 - 1


@pytest.mark.parametrize("cls", [GAN, WGANGP])
@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
def test_every_phase_has_a_finite_loss_and_touches_only_its_group(cls, arch):
    model = build(cls, architecture=arch)
    groups = {k: list(v) for k, v in model.param_groups().items()}
    for phase in dict.fromkeys(model.phases(0)):
        model.zero_grad(set_to_none=True)
        loss, logs = model(phase, batch(), None)
        assert torch.isfinite(loss)
        assert all(math.isfinite(float(v)) for v in logs.values())
        loss.backward()
        other = "generator" if phase == "discriminator" else "discriminator"
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[phase])
        assert all(p.grad is None for p in groups[other]), f"{phase} phase leaked gradients into {other}"


def test_discriminator_stays_trainable_after_a_generator_phase():
    model = build()
    model("generator", batch(), None)[0].backward()
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_phases_and_optimizer_settings():
    dcgan, wgan = build(GAN), build(WGANGP)
    assert dcgan.phases(3) == ["discriminator", "generator"]
    assert wgan.phases(3) == ["discriminator"] * 5 + ["generator"]
    assert set(wgan.group_lr_scale()) == set(wgan.param_groups()) == set(wgan.group_betas())
    assert wgan.group_betas()["discriminator"] == (0.0, 0.9)
    assert build(GAN, d_lr_scale=4.0).group_lr_scale() == {"generator": 1.0, "discriminator": 4.0}
    logs = wgan("discriminator", batch(), None)[1]
    assert {"d_real", "d_fake", "d_loss", "gp", "w_distance"} <= set(logs)


@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64)])
def test_samples_have_the_image_shape_and_range(arch, shape):
    model = build(architecture=arch, shape=shape)
    x = model.generate([0, 1, 2])
    assert x.shape == (3, *shape)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
def test_sample_depends_only_on_its_seed(arch):
    model = build(architecture=arch).eval()
    grid = model.generate([5, 6, 7])
    assert torch.allclose(model.generate([6])[0], grid[1], atol=1e-6)
    assert not torch.allclose(grid[0], grid[1])


def test_fully_conv_gan_has_no_linear_layer_and_a_spatial_latent():
    model = build(architecture="fully_conv", spectral_norm=True, num_classes=3)
    assert not [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert model.latent_shape == (2, 4, 4)
    assert any(isinstance(m, nn.Linear) for m in build(architecture="conv_dense").modules())


def test_conditional_gan_uses_labels():
    model = build(num_classes=3).eval()
    a = model.generate([1, 1], labels=torch.tensor([0, 2]))
    assert not torch.allclose(a[0], a[1])
    loss, _ = model("discriminator", batch(), torch.tensor([0, 1, 2, 0]))
    assert torch.isfinite(loss)
    with pytest.raises(GenlabError):
        model("generator", batch(), None)


def test_options_regularizers_and_losses_run():
    model = build(loss="hinge", spectral_norm=True, r1_gamma=10.0, label_smoothing=0.1, instance_noise=0.5)
    loss, logs = model("discriminator", batch(), None)
    assert torch.isfinite(loss) and logs["r1"] >= 0
    model.set_step(10**6)
    assert torch.isfinite(model("generator", batch(), None)[0])


def test_minibatch_std_feature_is_the_group_spread_and_zero_for_identical_samples():
    from genlab.models.gan.networks import minibatch_std

    h = torch.randn(8, 3, 2, 2)
    out = minibatch_std(h, 4)  # groups of 4: samples {i, i+2, i+4, i+6}
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], h)
    groups = h.reshape(4, 2, 3, 2, 2)
    expected = (groups.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3)).repeat(4)
    assert torch.allclose(out[:, 3, 0, 0], expected) and torch.equal(out[:, 3], out[:, 3, :1, :1].expand(8, 2, 2))
    assert minibatch_std(torch.randn(1, 3, 2, 2).expand(8, 3, 2, 2), 4)[:, 3].max() < 1e-3  # collapse: no spread
    assert minibatch_std(torch.randn(6, 3, 2, 2), 4).shape == (6, 4, 2, 2)  # 6 samples: groups of 3


@pytest.mark.parametrize("arch", ["conv_dense", "fully_conv"])
def test_discriminator_with_minibatch_std_sees_the_batch_spread(arch):
    model = build(architecture=arch, loss="hinge", spectral_norm=True, d_minibatch_std=4)
    loss, _ = model("discriminator", batch(8), None)
    assert torch.isfinite(loss)
    x = batch(8)
    same = x[:1].expand(8, *SHAPE)
    d = model.discriminator
    with torch.no_grad():  # the first sample's score changes when only the other samples change
        assert not torch.allclose(d(x)[0], d(torch.cat([x[:1], same[1:]]))[0])
    with pytest.raises(GenlabError, match="d_minibatch_std"):
        build(d_minibatch_std=-1)


def test_generator_with_fewer_stages_has_a_larger_latent_map_and_the_same_discriminator():
    """g_num_down < num_down: G starts from a larger latent map (more independent positions, as in Laloy et al.
    2018), D keeps its depth; images keep their shape and a GAN step runs."""
    base = build(architecture="fully_conv", num_down=2)
    wide = build(architecture="fully_conv", num_down=2, g_num_down=1)
    assert base.latent_shape == (2, 4, 4) and wide.latent_shape == (2, 8, 8)
    assert [p.shape for p in wide.discriminator.parameters()] == [p.shape for p in base.discriminator.parameters()]
    assert wide.generate([0, 1]).shape == (2, *SHAPE)
    for phase in wide.phases(0):
        loss, _ = wide(phase, batch(), None)
        assert torch.isfinite(loss)
    with pytest.raises(GenlabError, match="g_num_down"):
        build(g_num_down=9)


def test_bad_options_raise_one_line_errors():
    with pytest.raises(GenlabError, match="unknown option 'lossy'"):
        build(lossy="ns")
    with pytest.raises(GenlabError, match="loss"):
        build(loss="least-squares")
    with pytest.raises(GenlabError, match="d_norm"):
        build(d_norm="batch", gp_lambda=10.0)


def test_constructor_kwargs_rebuild_the_same_model():
    model = build(WGANGP, architecture="fully_conv").eval()
    kwargs = json.loads(json.dumps(model.constructor_kwargs()))
    clone = get_family("wgan-gp")(**kwargs)
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.eval().generate([3, 4]), model.generate([3, 4]))


# --- losses on known cases -----------------------------------------------------------------------------------------
class LinearCritic(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.zeros(1, 4, 4)
    w[0, 0, 0] = 3.0  # ‖∇D‖ = 3 → penalty (3 − 1)² = 4
    real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)
    assert gradient_penalty(LinearCritic(w), real, fake).item() == pytest.approx(4.0)
    w[0, 0, 0] = 1.0
    assert gradient_penalty(LinearCritic(w), real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_r1_penalty_of_a_linear_critic():
    w = torch.full((1, 2, 2), 0.5)  # ‖w‖² = 1
    real = torch.randn(3, 1, 2, 2, requires_grad=True)
    assert r1_penalty(LinearCritic(w)(real), real).item() == pytest.approx(1.0)


def test_gan_losses_at_known_scores():
    zero = torch.zeros(4)
    assert discriminator_loss("ns", zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss("ns", zero).item() == pytest.approx(math.log(2))
    assert discriminator_loss("hinge", zero, zero).item() == pytest.approx(2.0)
    assert discriminator_loss("wasserstein", torch.ones(4), zero).item() == pytest.approx(-1.0)
    assert generator_loss("hinge", torch.ones(4)).item() == pytest.approx(-1.0)
    # label smoothing: a very confident real score is penalised towards target 0.9
    big = torch.full((4,), 20.0)
    assert discriminator_loss("ns", big, -big, 0.1).item() == pytest.approx(0.1 * 20, rel=1e-3)


def test_instance_noise_anneals_linearly_to_zero():
    assert instance_noise_sigma(0, 0.2, 100) == pytest.approx(0.2)
    assert instance_noise_sigma(50, 0.2, 100) == pytest.approx(0.1)
    assert instance_noise_sigma(500, 0.2, 100) == 0.0
    assert instance_noise_sigma(10, 0.0, 100) == 0.0


@pytest.mark.parametrize("cls", [GAN, WGANGP])
def test_the_mlp_architecture_is_refused_in_one_line(cls):
    with pytest.raises(GenlabError, match="architecture' = 'mlp' is not supported by the GAN families") as err:
        build(cls, architecture="mlp")
    assert "\n" not in str(err.value)
