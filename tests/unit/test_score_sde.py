"""The score-sde family: SDE level tables, training/sampling agreement of the noise condition, the DSM loss, NCSN's
discrete levels, and sampling with the score samplers."""

import math

import pytest
import torch

from genlab.config.presets import resolve
from genlab.errors import GenlabError
from genlab.models.diffusion import objective
from genlab.models.registry import get_family
from genlab.models.score.model import ScoreSDE
from genlab.models.score.sde import VESDE, VPSDE, level_table, time_grid

TINY = {"base_channels": 8, "channel_mults": [1, 2], "attention_resolutions": [], "num_heads": 1}


def test_ve_levels_are_geometric_and_vp_follows_the_linear_beta_integral():
    ab = level_table(VESDE(0.01, 50.0), 100)
    sigma = ((1 - ab) / ab).sqrt()
    assert math.isclose(float(sigma[0]), 0.01, rel_tol=1e-9) and math.isclose(float(sigma[-1]), 50.0, rel_tol=1e-9)
    ratios = sigma[1:] / sigma[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-9)
    vp = level_table(VPSDE(0.1, 20.0), 1000)
    assert math.isclose(float(vp[-1]), math.exp(-(0.1 + 0.5 * 19.9)), rel_tol=1e-9)
    assert (vp[1:] < vp[:-1]).all()


@pytest.mark.parametrize("sde", ["ve", "vp"])
def test_the_training_condition_equals_the_samplers_at_every_level(sde):
    model = ScoreSDE((1, 8, 8), sde=sde, num_scales=37, **TINY)
    t = time_grid(model.sde, 37)
    idx = torch.arange(37)
    assert torch.allclose(model.noise_condition(t), objective.noise_condition(idx, 37), atol=1e-4)


def test_dsm_loss_is_the_sigma_squared_weighted_score_matching_loss():
    torch.manual_seed(0)
    model = ScoreSDE((1, 8, 8), sde="ve", **TINY)
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.1)  # a non-zero network
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    torch.manual_seed(1)
    loss, _ = model("model", x, None)
    torch.manual_seed(1)  # the same draws, written as Song & Ermon's eq. 5 with lambda = sigma^2
    t = model._draw_times(6)
    ab = model.sde.alpha_bar(t).float().reshape(-1, 1, 1, 1)
    sigma_ve = ((1 - ab) / ab).sqrt()  # the VE view: x~ = x0 + sigma~ z
    z = torch.randn_like(x)
    x_t = (x + sigma_ve * z) * ab.sqrt()  # the network's input x~ / sqrt(1 + sigma~^2)
    score_xt = model.score(x_t, t)
    score_ve = score_xt * ab.sqrt()  # chain rule: grad_x~ = grad_x_t / sqrt(1 + sigma~^2)
    dsm = (sigma_ve**2 * (score_ve + z / sigma_ve) ** 2).flatten(1).mean(1).mean()
    assert torch.allclose(loss, dsm, rtol=1e-4)


def test_ncsn_trains_on_its_discrete_levels_only():
    model = ScoreSDE((1, 8, 8), sde="ve", discrete=True, num_scales=10, **TINY)
    t = model._draw_times(500)
    assert set(t.tolist()) <= set(time_grid(model.sde, 10).tolist()) and len(set(t.tolist())) == 10


@pytest.mark.parametrize("sampler", ["langevin", "pc-ve", "pc-vp", "dpmpp-2m"])
def test_every_sampler_runs_and_seeds_are_independent(sampler):
    model = ScoreSDE((1, 8, 8), num_classes=2, sde="ve", num_scales=50, **TINY)
    out = model.generate([1, 2], torch.tensor([0, 1]), sampler=sampler, steps=5, guidance=2.0)
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()
    alone = model.generate([2], torch.tensor([1]), sampler=sampler, steps=5, guidance=2.0)
    assert torch.allclose(alone, out[1:], atol=1e-5)


def test_bad_options_are_one_line_errors():
    with pytest.raises(GenlabError, match="sde must be one of ve, vp"):
        ScoreSDE((1, 8, 8), sde="sub-vp", **TINY)
    model = ScoreSDE((1, 8, 8), **TINY)
    with pytest.raises(GenlabError, match="does not take eta"):
        model.generate([0], sampler="pc-ve", steps=3, eta=0.5)
    with pytest.raises(GenlabError, match="sampling grid 'log'"):
        model.generate([0], steps=3, grid="log")


def test_presets_and_alias_reach_the_family():
    assert get_family("ncsn") is ScoreSDE
    for name, sampler in (("mnist-ncsn", "langevin"), ("mnist-sde-ve", "pc-ve"), ("mnist-sde-vp", "pc-vp")):
        cfg = resolve(name)
        assert cfg.family == "score-sde" and cfg.sample.sampler == sampler
