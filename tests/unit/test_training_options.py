"""Training options: gradient accumulation is the large-batch update, fp16 with a GradScaler (the CUDA recipe; the
same code runs on a CPU here), activation checkpointing gives identical gradients, data augmentation."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from genlab import api
from genlab.data.augment import AUGMENTATIONS, augment
from genlab.errors import GenlabError
from genlab.nn.unet import UNet
from genlab.training.loop import Trainer, config_difference

AE_TINY = ["model.base_channels=8", "model.latent_dim=4"]
UNET_TINY = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]",
             "model.num_heads=1"]


def overrides(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
            "train.max_steps=3", "train.epoch_images=10000", "train.warmup_steps=1", "train.precision=fp32",
            "train.ema_decay=0", "sample.num_images=4", *extra]


def test_gradient_accumulation_is_the_large_batch_update(tiny_data_dir, tmp_path):
    """Optimiser steps of 16 images in the real loop (next_batch + train_step, AdamW, gradient clipping at 1): one
    batch of 16 and 4 accumulated micro-batches of 4 give the same gradients and the same weights to 1e-6.

    In fp32 the gradients agree to ~4e-7 (the sums run in another order) but Adam's first steps divide by |g|, so
    that rounding moves near-zero-gradient weights by up to ~1e-4 (measured); in float64 the whole update agrees.
    (The autoencoder's loss has no random draws; for diffusion the micro-batches draw their own t and noise: the
    same update in expectation.)"""
    trainers = []
    for accum in (1, 4):
        cfg = api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path / f"a{accum}", *AE_TINY,
                                                       f"train.accum_steps={accum}", "train.grad_clip=1.0"))
        trainers.append(Trainer(cfg, progress=False))
    big, small = trainers
    small.model.load_state_dict(big.model.state_dict())
    start = {k: v.clone() for k, v in big.model.state_dict().items()}
    x, _ = big.next_batch()
    for t in trainers:  # fp32: the gradients of one step
        t.train_step(x, None)
    for (name, p), q in zip(big.model.named_parameters(), small.model.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6, rtol=0), name
    for t in trainers:  # float64 from the same start (fresh optimiser state), two steps on two batches
        t.model.load_state_dict(start)
        t.model.double()
        t.model._track_codes = lambda code: None  # running code statistics (for sampling, not in the loss): off
        t.optimizers["model"].state.clear()
        t.images_seen = 0
    for _ in range(2):
        for t in trainers:
            t.train_step(t.next_batch()[0].double(), None)
            t.images_seen += 16
    with torch.no_grad():
        diff = max(float((p - q).abs().max()) for p, q in zip(big.model.parameters(), small.model.parameters()))
        moved = max(float((p - start[n]).abs().max()) for n, p in big.model.named_parameters())
    assert diff < 1e-6 and moved > 1e-3, (diff, moved)


def test_fp16_trains_with_a_grad_scaler_and_resumes(tiny_data_dir, tmp_path):
    run = tmp_path / "fp16"
    args = overrides(tiny_data_dir, run, *UNET_TINY, "train.precision=fp16", "sample.steps=1", "train.max_steps=1",
                     "train.batch_size=4", "sample.num_images=1")
    result = api.train("mnist-diffusion-quick", args, progress=False)
    assert result.step == 1 and all(torch.isfinite(torch.tensor(v)) for v in result.logs.values())
    t = Trainer(api.resolve_config("mnist-diffusion-quick", [*args, "train.max_steps=2"]), progress=False)
    assert t.scaler.is_enabled() and t.try_resume() and t.step == 1
    assert t.scaler.get_scale() == t.state()["scaler"]["scale"] > 0
    fp32 = Trainer(api.resolve_config("mnist-diffusion-quick", overrides(tiny_data_dir, tmp_path / "b", *UNET_TINY)),
                   progress=False)
    assert not fp32.scaler.is_enabled() and "grad_scale" not in fp32.train_step(*fp32.next_batch())


def test_fp16_step_with_an_inf_gradient_is_skipped_and_the_scale_shrinks(tiny_data_dir, tmp_path):
    t = Trainer(api.resolve_config("mnist-diffusion-quick", overrides(tiny_data_dir, tmp_path / "c", *UNET_TINY,
                                                                      "train.precision=fp16", "train.batch_size=4")),
                progress=False)
    before = copy.deepcopy(t.model.state_dict())
    scale = t.scaler.get_scale()
    weight = t.model.unet.conv_out.weight
    handle = weight.register_hook(lambda g: torch.full_like(g, float("inf")))
    logs = t.train_step(*t.next_batch())
    handle.remove()
    assert logs["grad_scale"] == scale / 2
    assert all(torch.equal(before[k], v) for k, v in t.model.state_dict().items())  # no parameter moved
    logs = t.train_step(*t.next_batch())  # a finite step then updates
    assert not torch.equal(before["unet.conv_out.bias"], t.model.state_dict()["unet.conv_out.bias"])


def test_activation_checkpointing_gives_identical_gradients():
    torch.manual_seed(0)
    net = UNet(1, 1, base_channels=8, channel_mults=(1, 2), attention_resolutions=(14,), num_classes=3,
               dropout=0.2, image_size=28, num_heads=1)
    torch.nn.init.normal_(net.conv_out.weight, std=0.1)
    ckpt = copy.deepcopy(net)
    ckpt.checkpointing = True
    x, c, y = torch.randn(4, 1, 28, 28), torch.rand(4) * 1000, torch.tensor([0, 1, 2, 3 % 3])
    grads = []
    for model in (net, ckpt):
        torch.manual_seed(1)  # same dropout masks: checkpoint replays the RNG state in the recomputation
        model.zero_grad()
        model(x, c, y).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


def test_activation_checkpointing_option_reaches_the_unet_and_is_refused_elsewhere(tiny_data_dir, tmp_path):
    cfg = api.resolve_config("mnist-diffusion-quick", overrides(tiny_data_dir, tmp_path / "d", *UNET_TINY,
                                                                "train.activation_checkpointing=true"))
    t = Trainer(cfg, progress=False)
    assert t.model.unet.checkpointing
    t.train_step(*t.next_batch())
    cfg = api.resolve_config("mnist-vae", overrides(tiny_data_dir, tmp_path / "e", "train.activation_checkpointing=true"))
    with pytest.raises(GenlabError, match="activation_checkpointing: the vae family has no backbone"):
        Trainer(cfg, progress=False)


def test_augmentations_keep_the_pixels_and_are_seeded():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    torch.manual_seed(3)
    a = augment(x, ["hflip", "vflip", "shift"])
    torch.manual_seed(3)
    assert torch.equal(a, augment(x, ["hflip", "vflip", "shift"]))
    torch.manual_seed(0)
    flipped = AUGMENTATIONS["hflip"](x.repeat(16, 1, 1, 1))
    same = [torch.equal(f, x[i % 2]) for i, f in enumerate(flipped)]
    assert 0 < sum(same) < 32 and all(s or torch.equal(f, x[i % 2].flip(-1)) for i, (s, f) in enumerate(zip(same,
                                                                                                       flipped)))
    shifted = AUGMENTATIONS["shift"](x)
    assert shifted.shape == x.shape and set(shifted.unique().tolist()) <= set(x.unique().tolist())
    with pytest.raises(GenlabError, match="data.augment"):
        api.resolve_config("mnist-diffusion-quick", ["data.augment=[rotate]"])


def test_training_with_augmentation_and_resuming_an_older_config(tiny_data_dir, tmp_path):
    cfg = api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path / "f", *AE_TINY,
                                                   "data.augment=[shift]"))
    new = cfg.to_dict()
    t = Trainer(cfg, progress=False)
    x_aug, _ = t.next_batch()
    t.cfg.data.augment = []
    assert not torch.equal(x_aug, t.next_batch()[0])
    old = copy.deepcopy(new)
    for section, key in (("sample", "grid"), ("sample", "eta"), ("data", "augment")):
        old[section].pop(key)
    old["train"].pop("activation_checkpointing")
    assert config_difference(old, {**new, "data": {**new["data"], "augment": []}}) is None  # added keys at default
    assert "data.augment" in config_difference(old, new)


def test_resuming_a_run_started_before_a_model_option_existed():
    """A model option added to a family after a run started (here the GAN's g_num_down) is not a config change when
    it is at the family's default; set to anything else it is."""
    new = api.resolve_config("channels-sgan-64").to_dict()
    old = copy.deepcopy(new)
    old["model"].pop("g_num_down")
    assert new["model"]["g_num_down"] == 0 and config_difference(old, new) is None
    changed = {**new, "model": {**new["model"], "g_num_down": 2}}
    assert config_difference(old, changed) == "model.g_num_down: None in the run, 2 now"
    assert config_difference(old, {**new, "family": "wgan-gp"}).startswith("family: 'dcgan' in the run")


def test_extra_emas_are_kept_written_beside_each_snapshot_and_resumed(tiny_data_dir, tmp_path):
    """train.ema_extra: every decay is its own average of the same weights (the main EMA unchanged), written as
    ema-<decay>/<snapshot name> beside the final and epoch snapshots, loadable, and carried through a resume."""
    run = tmp_path / "emas"
    args = overrides(tiny_data_dir, run, *AE_TINY, "train.ema_decay=0.9", "train.ema_extra=[0.5,0.99]",
                     "train.ema_warmup=false", "train.max_steps=2", "train.epoch_images=32")
    result = api.train("mnist-ae", args, progress=False)
    assert result.step == 2
    for decay in (0.5, 0.99):
        path = run / f"ema-{decay:g}" / "snapshot.safetensors"
        assert api.read_header(path)["ema_decay"] == decay
        assert api.load(path).info.step == 2
    assert sorted(p.name for p in (run / "snapshots").glob("epoch-*.safetensors")) == ["epoch-0001.safetensors"]
    assert (run / "snapshots" / "ema-0.99" / "epoch-0001.safetensors").is_file()
    t = Trainer(api.resolve_config("mnist-ae", [*args, "train.max_steps=3"]), progress=False)
    assert t.try_resume()
    # the three averages differ (0.5 follows the weights closely, 0.99 barely leaves the start), and each matches
    # the file written for it
    weights = {d: e.model.state_dict() for d, e in [(0.9, t.ema), *t.ema_extra.items()]}
    key = max((n for n, _ in t.model.named_parameters()),
              key=lambda n: float((weights[0.5][n] - weights[0.99][n]).abs().max()))
    assert not torch.equal(weights[0.5][key], weights[0.99][key])
    assert not torch.equal(weights[0.5][key], weights[0.9][key])
    saved = api.load(run / "ema-0.5" / "snapshot.safetensors").model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in weights[0.5].items() if k in saved)


@pytest.mark.parametrize("value", ["[1.0]", "[0.9,0.9]", "0.9", "[0]"])
def test_bad_extra_ema_decays_are_refused_in_one_line(value):
    with pytest.raises(GenlabError, match="train.ema_extra"):
        api.resolve_config("mnist-ae", [f"train.ema_extra={value}"])
