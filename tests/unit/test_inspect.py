"""Debugging visualisations (issue 19 part 6): forward hooks capture each layer's output with the right shapes,
recomputed attention weights are the ones the layer applies, the loss profile has one value per timestep and is
the training objective, the PNG writers and `genlab inspect` work, and bad arguments are one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.diffusion_tools import trajectory
from genlab.errors import GenlabError
from genlab.inference import load
from genlab.inspection import (
    attention_maps,
    default_layers,
    feature_maps,
    loss_profile,
    save_attention_maps,
    save_feature_maps,
    save_loss_profile,
    save_trajectory,
)
from genlab.models.diffusion import objective
from genlab.utils.seeding import randn_per_sample
from tests_helpers import run_cli, save_tiny_diffusion

TS = [900, 500, 100]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return save_tiny_diffusion(tmp_path_factory.mktemp("tiny") / "snapshot.safetensors")  # 28x28, widths 8/16


@pytest.fixture(scope="module")
def gen(snapshot):
    g = load(snapshot, device="cpu")
    with torch.no_grad():  # random weights: an untrained U-Net's zero last conv would hide mistakes
        torch.manual_seed(1)
        for p in g.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return g


def _x0(n=3):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_feature_maps_capture_every_stage_with_its_shape(gen):
    layers = default_layers(gen)
    assert layers[0] == "down.0.0" and "mid.0" in layers and layers[-1].startswith("up.")
    maps = feature_maps(gen, _x0(), TS, torch.tensor([0, 1, 2]))
    assert list(maps) == layers
    assert maps["down.0.0"].shape == (3, 3, 8, 28, 28)  # (T, N, C, H, W): level 0 is 8 channels at 28x28
    assert maps["down.1.0"].shape == (3, 3, 8, 14, 14)  # the Downsample halves H, W
    assert maps["mid.0"].shape == (3, 3, 16, 14, 14)
    assert maps[layers[-1]].shape == (3, 3, 8, 28, 28)
    assert not torch.equal(maps["mid.0"][0], maps["mid.0"][2])  # different noise levels, different activations
    one = feature_maps(gen, _x0(), [500], torch.tensor([0, 1, 2]), layers=["mid.0"])
    torch.testing.assert_close(one["mid.0"][0], maps["mid.0"][1])  # the same eps at every t


def test_attention_weights_are_the_ones_the_layer_applies(gen):
    maps = attention_maps(gen, _x0(2), TS, torch.tensor([0, 1]))
    assert list(maps) and all(name.startswith(("down", "mid", "up")) for name in maps)
    name, amap = next(iter(maps.items()))
    assert amap.weights.shape == (3, 2, 1, 196, 196) and amap.grid == (14, 14)  # (T, N, heads, HW, HW)
    torch.testing.assert_close(amap.weights.sum(-1), torch.ones(3, 2, 1, 196))
    assert amap.query_map().shape == (3, 2, 14, 14)
    # the layer's own output = x + proj(weights @ v) with the recomputed weights
    module = dict(gen.model.unet.named_modules())[name]
    x = torch.randn(2, 16, 14, 14) if module.qkv.in_channels == 16 else torch.randn(2, 8, 14, 14)
    from genlab.inspection import ATTENTION

    w, _ = ATTENTION[type(module)](module, x)
    n, c, h, wd = x.shape
    v = module.qkv(module.norm(x)).reshape(n, 3, module.num_heads, c // module.num_heads, h * wd)[:, 2]
    out = (w @ v.transpose(-1, -2)).transpose(-1, -2).reshape(n, c, h, wd)
    with torch.no_grad():
        torch.testing.assert_close(x + module.proj(out), module(x), atol=1e-5, rtol=1e-4)


def test_loss_profile_has_one_value_per_timestep_and_is_the_objective(gen, snapshot):
    prof = loss_profile(gen, _x0(4), torch.tensor([0, 1, 2, 3]), num_points=7)
    assert prof.t.tolist() == [0, 166, 333, 500, 666, 832, 999]  # linspace, rounded half to even
    assert len(prof.loss) == len(prof.x0_mse) == 7 and prof.n == 4 and prof.prediction == "eps"
    # an untrained U-Net outputs exactly 0 (zero-initialised last conv): the loss is then E[target^2]
    fresh = load(snapshot, device="cpu")
    x0 = _x0(4)
    prof0 = loss_profile(fresh, x0, ts=[10, 700], batch_size=3)
    eps = randn_per_sample([0, 1, 2], (1, 28, 28))
    eps = torch.cat([eps, randn_per_sample([3], (1, 28, 28))])  # the second batch starts at seed + 3
    for t, got in zip([10, 700], prof0.loss, strict=True):
        alpha, sigma = objective.alpha_sigma(fresh.model.alphas_cumprod, torch.full((4,), t), 4)
        target = objective.training_target("eps", x0, eps, alpha, sigma)  # = eps
        assert got == pytest.approx(float(target.square().mean()), rel=1e-5)


def test_png_writers(gen, tmp_path):
    x0 = _x0(2)
    feats = feature_maps(gen, x0, TS, layers=["down.0.0", "mid.1"])
    attn = attention_maps(gen, x0, TS)
    traj = trajectory(gen, [0, 1], sampler="ddim", steps=4)
    prof = loss_profile(gen, x0, num_points=5)
    for path, write in [("f.png", lambda p: save_feature_maps(feats, TS, p)),
                        ("a.png", lambda p: save_attention_maps(attn, p, background=x0[0])),
                        ("t.png", lambda p: save_trajectory(traj, p)),
                        ("l.png", lambda p: save_loss_profile(prof, p))]:
        out = write(tmp_path / path)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_one_line_errors(gen):
    with pytest.raises(GenlabError, match=r"timesteps \[1000\]: expected"):
        feature_maps(gen, _x0(), [1000])
    with pytest.raises(GenlabError, match="layer 'nope' is not a module"):
        feature_maps(gen, _x0(), TS, layers=["nope"])
    with pytest.raises(GenlabError, match="not an attention layer"):
        attention_maps(gen, _x0(), TS, layers=["down.0.0"])
    with pytest.raises(GenlabError, match=r"images of shape \(3, 1, 16, 16\)"):
        loss_profile(gen, torch.zeros(3, 1, 16, 16))
    with pytest.raises(GenlabError, match="num_points 0"):
        loss_profile(gen, _x0(), num_points=0)
    with pytest.raises(GenlabError, match="labels"):
        loss_profile(gen, _x0(), torch.tensor([0, 1]))
    with pytest.raises(GenlabError, match="query position 999"):
        next(iter(attention_maps(gen, _x0(1), [500]).values())).query_map(999)


def test_cli_inspect(snapshot, tiny_data_dir, tmp_path, capsys):
    code, out, _ = run_cli(["inspect", "--help"], capsys)
    assert code == 0 and all(c in out for c in ("attention", "features", "trajectory", "loss"))
    data = ["--data-dir", str(tiny_data_dir)]
    code, out, err = run_cli(["inspect", "loss", str(snapshot), "-n", "8", "--points", "5", *data,
                              "-o", str(tmp_path / "loss.png"), "--json", str(tmp_path / "loss.json")], capsys)
    assert code == 0, err
    assert len(json.loads((tmp_path / "loss.json").read_text())["loss"]) == 5 and (tmp_path / "loss.png").is_file()
    code, out, err = run_cli(["inspect", "attention", str(snapshot), "-t", "800", "-t", "200", *data,
                              "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0 and "(1, 196, 196)" in out, err
    code, out, err = run_cli(["inspect", "features", str(snapshot), "--layer", "mid.0", *data,
                              "-o", str(tmp_path / "f.png")], capsys)
    assert code == 0 and "mid.0 (16, 14, 14)" in out, err
    code, out, err = run_cli(["inspect", "trajectory", str(snapshot), "--steps", "3", "-o", str(tmp_path / "t.png")],
                             capsys)
    assert code == 0 and (tmp_path / "t.png").is_file(), err
    for args, message in [(["features", str(snapshot), "-t", "5000", *data], "timesteps [5000]"),
                          (["features", str(snapshot), "--layer", "nope", *data], "layer 'nope'"),
                          (["attention", str(snapshot), "--image", "3", *data], "--image 3"),
                          (["trajectory", str(snapshot), "--sampler", "nope"], "--sampler nope"),
                          (["loss", str(snapshot), "-o", str(tmp_path / "x.jpg")], "unsupported file type")]:
        code, _, err = run_cli(["inspect", *args, *([] if "-o" in args else ["-o", str(tmp_path / "e.png")])], capsys)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
