"""Latent diffusion (genlab.models.diffusion.latent): diffusion in a frozen autoencoder's latent, trained and
sampled through the normal engine; the autoencoder comes from its snapshot (safetensors + JSON)."""

from __future__ import annotations

import pytest
import torch

from genlab import api
from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import ImageCodec
from genlab.errors import GenlabError
from genlab.models.diffusion.latent import LatentDiffusion
from genlab.models.vae.model import VAE
from genlab.training.frozen import build_with_frozen

AE_OPTIONS = {"architecture": "fully_conv", "latent_channels": 2, "base_channels": 8, "likelihood": "bernoulli"}
LATENT_UNET = ["model.base_channels=8", "model.channel_mults=[1]", "model.num_res_blocks=1",
               "model.attention_resolutions=[7]", "model.num_heads=1"]


@pytest.fixture(scope="module")
def ae_snapshot(tmp_path_factory):
    """An (untrained, randomly initialised) 2x7x7-latent VAE snapshot for 28x28 images."""
    torch.manual_seed(0)
    vae = VAE((1, 28, 28), 0, **AE_OPTIONS)
    path = tmp_path_factory.mktemp("ae") / "ae.safetensors"
    save_snapshot(path, vae, ImageCodec(1, 28, 28).state(), extra={"config": {"data": {"dataset": "mnist"}}})
    return path, vae


def _ldm(ae_path, **extra):
    opts = {"autoencoder": str(ae_path), "base_channels": 8, "channel_mults": [1], "num_res_blocks": 1,
            "attention_resolutions": [7], "num_heads": 1, **extra}
    return build_with_frozen(LatentDiffusion, (1, 28, 28), 3, opts)


def test_encodes_and_decodes_through_the_frozen_autoencoder(ae_snapshot):
    path, vae = ae_snapshot
    model = _ldm(path)
    assert model.noise_shape == (2, 7, 7) and model.cfg.ae_family == "vae"
    for name, value in vae.state_dict().items():  # the snapshot's weights, loaded
        assert torch.equal(model.ae.state_dict()[name], value)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    model.train()
    z = model.to_latent(x)  # the first training batch fixes the per-channel normalisation
    assert z.shape == (6, 2, 7, 7)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(2), atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(model.from_latent(z), vae.reconstruct(x), atol=1e-5)  # decode(E[z|x])


def test_training_steps_leave_the_autoencoder_unchanged(ae_snapshot):
    path, _ = ae_snapshot
    torch.manual_seed(0)
    model = _ldm(path)
    before = {k: v.clone() for k, v in model.ae.state_dict().items()}
    unet_before = [p.clone() for p in model.unet.parameters()]
    params = list(model.param_groups()["model"])
    assert all(p.requires_grad for p in params) and not any(p.requires_grad for p in model.ae.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    model.train()
    assert not model.ae.training  # frozen: eval mode whatever the engine asks
    for _ in range(3):
        loss, _ = model("model", torch.rand(8, 1, 28, 28) * 2 - 1, torch.randint(0, 3, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.ae.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(unet_before, model.unet.parameters()))


def test_train_and_sample_through_the_engine(ae_snapshot, tiny_data_dir, tmp_path):
    """`genlab train mnist-ldm model.autoencoder=...` then load the run and sample: the snapshot holds the AE."""
    path, vae = ae_snapshot
    run = tmp_path / "ldm"
    overrides = [f"data.data_dir={tiny_data_dir}", f"run_dir={run}", "data.download=false",
                 f"model.autoencoder={path}", "train.batch_size=16", "train.max_steps=4", "train.epoch_images=32",
                 "train.log_every=2", "train.warmup_steps=1", "sample.num_images=4", "sample.steps=2",
                 "train.ema_decay=0.9", *LATENT_UNET]
    api.train("mnist-ldm", overrides, progress=False)
    path.rename(path.with_suffix(".moved"))  # the run's snapshot must not need the autoencoder's file any more
    try:
        gen = api.load(run)
        images = gen.generate(3, seed=0, labels=[0, 1, 2], sampler="dpmpp-2m", steps=3, guidance=1.5)
    finally:
        path.with_suffix(".moved").rename(path)
    assert images.shape == (3, 1, 28, 28) and images.dtype == torch.uint8
    assert gen.info.family == "latent-diffusion" and gen.info.kwargs["ae_family"] == "vae"
    for name, value in vae.state_dict().items():  # the AE inside the saved (EMA) model is the frozen one
        assert torch.equal(gen.model.ae.state_dict()[name].cpu(), value)
    assert float(gen.model.latent_stats_ready) == 1.0


@pytest.mark.parametrize("options, message", [
    ({"autoencoder": ""}, "set model.autoencoder="),
    ({"autoencoder": "/nonexistent/ae.safetensors"}, "is not a snapshot file, a run directory or a pretrained"),
])
def test_missing_autoencoder_is_one_line(options, message):
    with pytest.raises(GenlabError) as err:
        build_with_frozen(LatentDiffusion, (1, 28, 28), 0, options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_wrong_autoencoders_are_refused(tmp_path):
    dense = VAE((1, 28, 28), 0, architecture="conv_dense", latent_dim=8, base_channels=8)
    save_snapshot(tmp_path / "dense.safetensors", dense, ImageCodec(1, 28, 28).state())
    with pytest.raises(GenlabError, match="latent is a vector"):
        build_with_frozen(LatentDiffusion, (1, 28, 28), 0, {"autoencoder": str(tmp_path / "dense.safetensors")})
    with pytest.raises(GenlabError, match=r"trained on \[1, 28, 28\] images, the data are \[1, 32, 32\]"):
        LatentDiffusion((1, 32, 32), 0, ae_family="vae", ae_kwargs=dense.constructor_kwargs())
    with pytest.raises(GenlabError, match="'ae_family' = 'gan' is not one of"):
        LatentDiffusion((1, 28, 28), 0, ae_family="gan", ae_kwargs={})
    model = LatentDiffusion((1, 28, 28), 0, ae_family="vae", ae_kwargs=VAE((1, 28, 28), 0, **AE_OPTIONS)
                            .constructor_kwargs(), channel_mults=[1], attention_resolutions=[7])
    bad = {k: v.clone() for k, v in model.ae.state_dict().items()}
    next(iter(bad.values())).fill_(float("nan"))
    with pytest.raises(GenlabError, match="holds NaN or Inf"):
        model.load_autoencoder(bad)
