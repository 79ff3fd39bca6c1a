"""Named presets: a preset is a nested dict of config values applied on top of the dataclass defaults.

`PRESETS` is the one table of them (image, facies and audio presets alike); nothing registers presets on import.
`resolve("mnist-diffusion", ["train.lr=1e-3"])` → RunConfig; a YAML file may name a base preset with `preset:`.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from genlab.audio.musdb import TARGETS
from genlab.config.core import RunConfig, apply_nested, load_yaml, parse_override, set_key
from genlab.errors import GenlabError
from genlab.models.registry import get_family

# U-Net for 28x28: 28 -> 14 -> 7, attention at 7x7. SMALL (0.66 M parameters) trains at ~160 images/s in fp32
# on the 2-core reference CPU (batch 64), so a few minutes give recognisable digits.
# v-prediction: with eps-prediction and the cosine schedule an undertrained model leaves grainy backgrounds (x0 from
# eps is ill-conditioned at high noise); v stays well conditioned at both ends (Salimans & Ho 2022).
_UNET_SMALL = {"base_channels": 24, "channel_mults": [1, 2, 2], "num_res_blocks": 1, "attention_resolutions": [7],
               "prediction": "v"}
_UNET_MEDIUM = {"base_channels": 48, "channel_mults": [1, 2, 2], "num_res_blocks": 2, "attention_resolutions": [7],
                "prediction": "v"}

# 800 steps of 64 images (0.85 epoch): ~5-6 minutes on a quiet 2-core CPU. A step budget rather than a time limit,
# so the result (and the README's grid) does not depend on how busy the machine is.
_QUICK_TRAIN = {"batch_size": 64, "lr": 1e-3, "warmup_steps": 100, "precision": "auto", "epochs": 0.0,
                "max_steps": 800, "epoch_images": 12800, "ema_decay": 0.995, "log_every": 25}
_FULL_TRAIN = {"batch_size": 128, "lr": 5e-4, "precision": "auto", "epochs": 10.0, "ema_decay": 0.999}


def _diffusion_presets() -> dict[str, dict[str, Any]]:
    """Class-conditional diffusion on MNIST / Fashion-MNIST. `<short>-diffusion-quick` is the README's main job:
    a few CPU minutes on real data; `<short>-diffusion` is the longer, larger run."""
    # Guidance by measurement (issue 15, benchmarks/results/diffusion_quality.md): FID against w = 1, 1.25, 1.5, 2, 3
    # on the shipped models (n = 200 per point, same seeds) was lowest at w = 1.5 on MNIST and w = 2 on Fashion-MNIST.
    guidance = {"mnist": 1.5, "fashion-mnist": 2.0}
    out = {}
    for dataset, short in (("mnist", "mnist"), ("fashion-mnist", "fashion")):
        for suffix, model, train in (("-quick", _UNET_SMALL, _QUICK_TRAIN), ("", _UNET_MEDIUM, _FULL_TRAIN)):
            out[f"{short}-diffusion{suffix}"] = {
                "family": "diffusion", "data": {"dataset": dataset, "conditional": True}, "model": dict(model),
                "train": dict(train), "sample": {"sampler": "dpmpp-2m", "steps": 20, "guidance": guidance[dataset]}}
    return out


def _family_presets() -> dict[str, dict[str, Any]]:
    """GAN, VAE and autoencoder presets for MNIST and Fashion-MNIST (fp32: GAN steps are cheap and bf16 can
    destabilise the adversarial game)."""
    # Sized for a slow 2-core CPU (docs/families.md has the measured minutes): a GAN step at batch 64 costs
    # ~0.45 s (dcgan, 0.74M params) / ~0.9 s (wgan-gp at base 16, 5 critic steps); a VAE/AE step at 128 ~0.4 s.
    common_train = {"batch_size": 128, "precision": "fp32", "warmup_steps": 50, "ema_decay": 0.999, "grad_clip": 0.0}
    # Lengths are the ones behind docs/families.md's grids: DCGAN 4800 / WGAN-GP 3000 generator steps, VAE 750
    # steps, autoencoders 800 steps. Measured on Fashion-MNIST (FID n=1000): the DCGAN as first shipped (no
    # normalisation in D, GroupNorm in G) collapsed onto upper-body garments at 2400 steps (FID 96, class KL 0.45);
    # spectral norm in D alone gave 90.5 / 0.41, spectral norm in D + BatchNorm in G (the SN-GAN recipe, Miyato
    # et al. 2018) 77.5 / 0.30 at 2400 steps and 42.0 / 0.053 at 4800. WGAN-GP went 113 -> 55 from 1000 to 3000
    # generator steps (MNIST 95 -> 46).
    gan_train = {"batch_size": 64, "epochs": 24.0, "epoch_images": 12800}  # an "epoch" = 12800 images here
    ae_train = {"lr": 1e-3, "epochs": 8.0, "epoch_images": 12800}
    families = {
        "dcgan": ({"base_channels": 32, "latent_dim": 64, "spectral_norm": True, "norm": "batch"},
                  {**gan_train, "lr": 2e-4}),
        "wgan-gp": ({"base_channels": 16, "latent_dim": 64},
                    {**gan_train, "lr": 2e-4, "epochs": 30.0, "epoch_images": 6400}),
        "vae": ({"base_channels": 32, "latent_dim": 16, "likelihood": "bernoulli", "kl_warmup_steps": 200},
                {"lr": 1e-3, "epochs": 5.0, "epoch_images": 19200}),
        "ae": ({"base_channels": 32, "latent_dim": 16}, dict(ae_train)),
        "dae": ({"base_channels": 32, "latent_dim": 16}, dict(ae_train)),
        "sparse-ae": ({"base_channels": 32}, dict(ae_train)),
    }
    out = {}
    for dataset, short in (("mnist", "mnist"), ("fashion-mnist", "fashion")):
        for family, (model, train) in families.items():
            out[f"{short}-{family}"] = {"family": family, "data": {"dataset": dataset, "conditional": False},
                                        "model": dict(model), "train": {**common_train, **train}}
    # Binarized MNIST for log-likelihoods comparable to Burda et al. (2016): Bernoulli decoder, dynamic
    # binarization, 50 latents as theirs; `-iwae` trains the k = 5 importance-weighted bound instead of the ELBO.
    binary = {"base_channels": 32, "latent_dim": 50, "likelihood": "bernoulli", "binarize": "dynamic",
              "kl_warmup_steps": 500}
    binary_train = {**common_train, "lr": 1e-3, "epochs": 0.0, "max_steps": 2400, "lr_schedule": "cosine"}
    out["mnist-vae-binary"] = {"family": "vae", "data": {"dataset": "mnist", "conditional": False},
                               "model": dict(binary), "train": dict(binary_train)}
    out["mnist-iwae-binary"] = {"family": "vae", "data": {"dataset": "mnist", "conditional": False},
                                "model": {**binary, "objective": "iwae", "iwae_k": 5, "kl_warmup_steps": 0},
                                "train": {**binary_train, "max_steps": 1000}}
    # Burda et al.'s one-layer MNIST VAE (784-200-200-50 MLP, Bernoulli decoder, dynamic binarization), sized to the
    # CPU: a pass over the 60,000 images costs ~5 CPU-s at batch 250 (conv VAE: ~2.5 CPU-min). Pilot (90 CPU-s each,
    # AMD EPYC, 1 thread, cosine lr; test -L_100, n = 300): tanh 107.3 (batch 100, lr 1e-3) / 104.3 (250, 2e-3),
    # ELU 97.7 / 95.3, so ELU at batch 250, lr 2e-3 (model.activation=tanh is Burda's exact network).
    mlp = {"architecture": "mlp", "hidden_sizes": [200, 200], "activation": "elu", "latent_dim": 50,
           "likelihood": "bernoulli", "binarize": "dynamic", "kl_warmup_steps": 0}
    mlp_train = {**common_train, "batch_size": 250, "lr": 2e-3, "epochs": 0.0, "max_steps": 64000,
                 "epoch_images": 1_600_000, "lr_schedule": "cosine", "threads": 1}
    out["mnist-vae-mlp-binary"] = {"family": "vae", "data": {"dataset": "mnist", "conditional": False},
                                   "model": dict(mlp), "train": dict(mlp_train)}
    # the same network trained on the k = 5 importance-weighted bound (Burda et al.'s IWAE); a step costs 2.3x the
    # ELBO step (encoder once, decoder 5x), so fewer steps in a similar CPU budget
    out["mnist-iwae-mlp-binary"] = {"family": "vae", "data": {"dataset": "mnist", "conditional": False},
                                    "model": {**mlp, "objective": "iwae", "iwae_k": 5},
                                    "train": {**mlp_train, "max_steps": 18000}}
    return out


def _ae_course_presets() -> dict[str, dict[str, Any]]:
    """Issue 20's autoencoder families on MNIST / Fashion-MNIST, unconditional, each sized to about 6 CPU-minutes
    on one thread of a 2-core AMD EPYC (Zen 3), the VQ-VAE about 8 and the MNIST VAE-GAN about 12 (docs/families.md
    has the measured minutes and FID): `<short>-vaegan`,
    `<short>-aae`, `<short>-ladder`, `<short>-vqvae`. The step costs behind the budgets (batch as below, fp32):
    vae-gan ~0.7 s (its discriminator reads 6 batches of images per step), aae ~0.5 s, ladder ~0.45 s, vq-vae
    ~0.8 s (0.5 autoencoder + 0.3 prior)."""
    common = {"precision": "fp32", "warmup_steps": 50, "ema_decay": 0.999, "grad_clip": 0.0, "epochs": 0.0}
    families = {
        "vaegan": ("vae-gan", {"base_channels": 32, "latent_dim": 16, "d_base_channels": 16, "kl_warmup_steps": 100},
                   {"batch_size": 64, "lr": 5e-4, "max_steps": 500}),
        "aae": ("aae", {"base_channels": 32, "latent_dim": 8},
                {"batch_size": 128, "lr": 1e-3, "max_steps": 700}),
        "ladder": ("ladder-vae", {"base_channels": 32, "latent_dim": 32, "top_latent_dim": 16,
                                  "kl_warmup_steps": 200},
                   {"batch_size": 128, "lr": 1e-3, "max_steps": 750}),
        # EMA 0.99: a restarted code jumps, and the prior is fitted to the raw model's codes; a long EMA would
        # decode those indices with a stale codebook
        # the codebook starts at k-means++ centres of the first batch's encoder outputs (the model's default) and
        # dead codes are restarted every 50 steps: the paper's uniform start left ~17 of 64 codes in use. 1000
        # steps, not 450: at 450 all 64 codes were in use but the prior (2.8 bits/code) sampled stroke soup (MNIST
        # FID 113); at 1000 it reaches 2.4 bits/code and FID 64 (docs/families.md)
        "vqvae": ("vq-vae", {"base_channels": 32, "latent_channels": 16, "codebook_size": 64, "prior_width": 96,
                             "prior_depth": 2, "prior_start_step": 100, "restart_every": 50},
                  {"batch_size": 128, "lr": 1e-3, "max_steps": 1000, "ema_decay": 0.99}),
    }
    out = {}
    for dataset, short in (("mnist", "mnist"), ("fashion-mnist", "fashion")):
        for name, (family, model, train) in families.items():
            out[f"{short}-{name}"] = {"family": family, "data": {"dataset": dataset, "conditional": False},
                                      "model": dict(model), "train": {**common, **train}}
    # Fashion VAE-GAN: 500 steps gave checkerboard-textured silhouettes (FID 87.7); resumed to 1000, FID 73.6.
    # MNIST VAE-GAN: 500 steps gave about half readable digits (FID 72.2); resumed to 1500, FID 45.5, recall 0.85
    out["fashion-vaegan"]["train"]["max_steps"] = 1500  # with the nearest decoder: 1000 -> 1500 steps, FID 68.4 -> 60.3
    out["mnist-vaegan"]["train"]["max_steps"] = 1500
    # Fashion VAE-GAN decoder: nearest-neighbour x2 + 3x3 conv instead of transposed convs (checkerboard; Odena et
    # al. 2016). At 1000 steps FID 73.6 -> 68.4, recall 0.35 -> 0.47 (n = 1000); at 500 steps 87.7 vs 89.2 (no
    # change); the grid loses the checkerboard, a vertical streak texture stays. MNIST not measured: unchanged
    out["fashion-vaegan"]["model"]["upsample"] = "nearest"
    # MNIST VQ-VAE: the prior was the weak part (2.38 bits/code at step 1000, still falling). Prior-only steps
    # after the autoencoder stops at 1000 (AMD EPYC, 1 thread): +300 steps (1.9 CPU-min) 2.25 bits/code, FID
    # 61.4 -> 54.3; +600 (3.7 CPU-min) 2.19, FID 48.9 (n = 1000); a prior temperature of 0.9 instead moved FID
    # only 61.4 -> 61.1 (docs/families.md)
    out["mnist-vqvae"]["model"]["prior_only_from_step"] = 1000
    out["mnist-vqvae"]["train"]["max_steps"] = 3000
    return out


def _channel_presets() -> dict[str, dict[str, Any]]:
    """Channel facies (issues 5 and 14). Every unsuffixed preset trains at 128×128, the LTrace size, on 20,000
    procedural LTrace-like images; the `-64` presets are the quick 64×64 versions (5,000 images; until issue 14 these
    were the unsuffixed names, and the shipped 64-px snapshots `channels-vae-dense` / `channels-vae-fullconv` were
    trained with them). `data.dataset=channels 'data.options={size: 128}'` reads the real train_images.h5 from the
    data directory (the file source takes no `n`), `'data.options={file: F}'` any LTrace-format file.

    The 128-px step budgets: smoke runs under load 7-9 gave CPU-s per step (AMD EPYC, 1 thread, fp32) vae-dense 1.54,
    vae-fullconv 1.31, sgan 2.79, vaegan 7.7 at batch 32, diffusion 8.1 at batch 16 (fp32); on an idle Zen 4 EPYC
    (load 2) the first logged steps cost sgan 1.71 and diffusion 2.4 (bf16 autocast: precision auto on a CPU with
    avx512_bf16), so the diffusion model got 1800 steps instead of 650. benchmarks/channels_train_plan.sh trains the five in ~2.7 CPU-hours (docs/channels.md §7)."""
    data64 = {"dataset": "channels-procedural", "options": {"n": 5000, "size": 64}}
    data = {"dataset": "channels-procedural", "options": {"n": 20000, "size": 128}}
    train64 = {"batch_size": 64, "lr": 1e-3, "epochs": 10.0, "precision": "fp32", "ema_decay": 0.999,
               "warmup_steps": 50, "grad_clip": 0.0}
    # 128 px: fixed step budgets (not epochs), one thread, resumable states every 5 minutes
    train = {**train64, "batch_size": 32, "epochs": 0.0, "max_steps": 400, "epoch_images": 16000,
             "threads": 1, "checkpoint_every_min": 5.0, "log_every": 25}
    vae64 = {"likelihood": "bernoulli", "base_channels": 16, "kl_warmup_steps": 500}
    # 128 px: the KL weight reaches 1 after a third of the (short) budgets, so the latent ends fully regularized
    vae = {**vae64, "kl_warmup_steps": 150}
    # A WGAN-GP step (5 critic phases with the gradient penalty's double backward + 1 generator phase) costs the
    # same for conv_dense and fully_conv: the dense layers (64→4096 in G, 4096→1 in the critic) are under 1 %
    # of the FLOPs, convolutions ~80 % of the time (benchmarks/channels_compare.py times both in one process). The
    # first conv+dense run's 2.5 images/s came from 2 OpenMP threads competing with other jobs on a 2-core machine;
    # on a shared machine train with train.threads=1. GAN steps are slow, so they log every 10 steps.
    gan = {"base_channels": 16}
    gan_train64 = {**train64, "lr": 1e-4, "log_every": 10}
    gan_train = {**train, "lr": 1e-4, "log_every": 10, "max_steps": 600}  # not in the 3-CPU-hour plan
    # Issue 14's non-collapsing GAN (SGAN-style, Jetchev et al. 2016 / Laloy et al. 2018): fully convolutional with a
    # spatial latent map (4 × 4 × 4 at 128 px, no nn.Linear), hinge loss with a spectrally normalised discriminator
    # (Miyato et al. 2018), one D step per G step and TTUR (D lr 4× G lr, Heusel et al. 2017), Adam (0, 0.9). The
    # earlier WGAN-GP run collapsed after ~110 generator steps: 5 critic steps per G step made G steps 6× dearer,
    # so 12 minutes gave G almost no updates.
    sgan = {"base_channels": 16, "architecture": "fully_conv", "latent_channels": 4, "loss": "hinge",
            "spectral_norm": True, "d_norm": "none", "d_minibatch_std": 4, "n_critic": 1, "d_lr_scale": 4.0,
            "adam_beta1": 0.0, "adam_beta2": 0.9}
    sgan_train = {**train, "lr": 1e-4, "log_every": 10, "max_steps": 1200}
    # The facies VAE-GAN baseline (Larsen et al. 2016): the fully convolutional VAE (same latent map as above, so
    # ES-MDA runs in the same space) with a spectral-norm discriminator judging reconstructions and prior samples;
    # nearest-neighbour upsampling against the checkerboard texture of GAN-trained decoders.
    # Its step is the dearest of the latent models (the discriminator reads real images, reconstructions and prior
    # samples in both phases): 7.7 CPU-s at batch 32 with transposed convolutions, 10.0 with nearest upsampling,
    # so transposed convolutions at batch 16.
    vaegan = {**vae, "architecture": "fully_conv", "latent_channels": 4, "d_base_channels": 16}
    vaegan_train = {**train, "batch_size": 16, "lr": 5e-4, "log_every": 10, "max_steps": 460}
    out = {
        "channels-vae-dense": {"family": "vae", "data": data,
                               "model": {**vae, "architecture": "conv_dense", "latent_dim": 64}, "train": train},
        "channels-vae-fullconv": {"family": "vae", "data": data,
                                  "model": {**vae, "architecture": "fully_conv", "latent_channels": 4},
                                  "train": {**train, "max_steps": 450}},
        "channels-wgan-dense": {"family": "wgan-gp", "data": data,
                                "model": {**gan, "architecture": "conv_dense", "latent_dim": 64},
                                "train": gan_train},
        "channels-wgan-fullconv": {"family": "wgan-gp", "data": data,
                                   "model": {**gan, "architecture": "fully_conv", "latent_channels": 4},
                                   "train": gan_train},
        "channels-sgan": {"family": "dcgan", "data": data, "model": dict(sgan), "train": sgan_train},
        "channels-vaegan": {"family": "vae-gan", "data": data, "model": dict(vaegan), "train": vaegan_train},
        "channels-diffusion-128": _channel_diffusion_preset(),
    }
    # the quick 64×64 presets: what the unsuffixed names were before issue 14 (epochs over 5,000 images)
    quick = {"channels-vae-dense": train64, "channels-vae-fullconv": train64, "channels-wgan-dense": gan_train64,
             "channels-wgan-fullconv": gan_train64,
             "channels-sgan": {**gan_train64, "epochs": 0.0, "max_steps": 1500},
             "channels-vaegan": {**train64, "lr": 5e-4, "log_every": 10}}
    return {**out, **_quick_64(out, quick, data64, vae64["kl_warmup_steps"])}


def _channel_diffusion_preset() -> dict[str, Any]:
    """`channels-diffusion-128` (issue 14): pixel-space diffusion on 128×128 binary facies (the LTrace size),
    unconditional, for realism and for inpainting to wells (genlab.editing_api.inpaint, RePaint). 3.27 M parameters
    (128→64→32→16→8, attention at 8×8). precision "auto": bf16 autocast on a CPU with avx512_bf16, else fp32. The
    shipped run: 2.44 CPU-s per batch-16 step with bf16 (AMD EPYC Zen 4 with avx512_bf16, 1 thread, load 2-4), 1800
    steps in 73 CPU-minutes (28,800 images, 1.4 passes); fp32 on an EPYC without it cost 8.1 (under load 7-9). Raise
    train.max_steps on the resumed command when there is more time (constant lr)."""
    return {
        "family": "diffusion", "data": {"dataset": "channels-procedural", "conditional": False,
                                        "options": {"n": 20000, "size": 128}},
        "model": {"base_channels": 32, "channel_mults": [1, 1, 2, 2, 4], "num_res_blocks": 1,
                  "attention_resolutions": [8], "prediction": "v"},
        "train": {"batch_size": 16, "lr": 5e-4, "warmup_steps": 200, "precision": "auto", "epochs": 0.0,
                  "max_steps": 1800, "epoch_images": 16000, "ema_decay": 0.999, "log_every": 25,
                  "checkpoint_every_min": 5.0, "threads": 1},
        "sample": {"num_images": 36, "sampler": "dpmpp-2m", "steps": 20, "guidance": 1.0}}


def _quick_64(out: dict[str, dict[str, Any]], quick: dict[str, dict[str, Any]], data64: dict[str, Any],
              kl_warmup_steps: int) -> dict[str, dict[str, Any]]:
    """`<name>-64` for each name in `quick`: the 128-px preset's model on the 64-px data with the quick training
    options `quick[name]` (and the 64-px KL warm-up where the model has one)."""
    result = {}
    for name, tr in quick.items():
        model = dict(out[name]["model"])
        if "kl_warmup_steps" in model:
            model["kl_warmup_steps"] = kl_warmup_steps
        result[f"{name}-64"] = {**out[name], "model": model, "data": data64, "train": dict(tr)}
    return result


def _score_presets() -> dict[str, dict[str, Any]]:
    """Score-based models on MNIST (issue 15), unconditional as in Song et al., the quick U-Net and step budget:
    `mnist-ncsn` trains on 200 geometric noise levels (NCSN) and samples by annealed Langevin dynamics;
    `mnist-sde-ve` / `mnist-sde-vp` train on continuous time and sample by predictor-corrector."""
    unet = {k: v for k, v in _UNET_SMALL.items() if k != "prediction"}
    data = {"dataset": "mnist", "conditional": False}
    return {
        "mnist-ncsn": {"family": "score-sde", "data": dict(data), "train": dict(_QUICK_TRAIN),
                       "model": {**unet, "sde": "ve", "discrete": True, "num_scales": 200},
                       "sample": {"sampler": "langevin", "steps": 100, "guidance": 1.0}},
        "mnist-sde-ve": {"family": "score-sde", "data": dict(data), "train": dict(_QUICK_TRAIN),
                         "model": {**unet, "sde": "ve"}, "sample": {"sampler": "pc-ve", "steps": 100, "guidance": 1.0}},
        "mnist-sde-vp": {"family": "score-sde", "data": dict(data), "train": dict(_QUICK_TRAIN),
                         "model": {**unet, "sde": "vp"}, "sample": {"sampler": "pc-vp", "steps": 100, "guidance": 1.0}},
    }



def _beyond_presets() -> dict[str, dict[str, Any]]:
    """Issue 19 (diffusion beyond sampling), sized like `mnist-diffusion-quick` and compared with it at equal CPU
    minutes (README "DiT vs U-Net" / "latent vs pixel"; benchmarks/diffusion_dit.py, diffusion_latent.py).

    `mnist-dit`: the quick preset with a Diffusion Transformer (genlab.nn.dit) for the U-Net: 4x4 patches (49 tokens),
    width 128, 6 blocks, adaLN-Zero; 0.70 CPU-s per step at batch 64 (U-Net 0.93), lr 6e-4 (transformers want less
    than the U-Net's 1e-3).
    `mnist-ldm-ae` then `mnist-ldm`: a VAE with a 4x7x7 spatial latent (Bernoulli decoder, beta 0.05: a lightly
    regularised latent the decoder reads robustly), then class-conditional diffusion in its frozen latent with a
    single-resolution U-Net (7x7, attention; a 7x7 map cannot be halved). `model.autoencoder` names the AE run."""
    quick = {"family": "diffusion", "data": {"dataset": "mnist", "conditional": True},
             "train": {**_QUICK_TRAIN, "precision": "fp32", "threads": 1},
             "sample": {"sampler": "dpmpp-2m", "steps": 20, "guidance": 1.5}}
    return {
        "mnist-dit": {**copy.deepcopy(quick),
                      "model": {"backbone": "dit", "dit_patch_size": 4, "dit_width": 128, "dit_depth": 6,
                                "num_heads": 4, "prediction": "v"},
                      "train": {**quick["train"], "lr": 6e-4}},
        "mnist-ldm-ae": {"family": "vae", "data": {"dataset": "mnist", "conditional": False},
                         "model": {"architecture": "fully_conv", "latent_channels": 4, "base_channels": 32,
                                   "likelihood": "bernoulli", "beta": 0.05, "kl_warmup_steps": 100},
                         "train": {"batch_size": 128, "lr": 1e-3, "warmup_steps": 50, "precision": "fp32",
                                   "epochs": 0.0, "max_steps": 250, "epoch_images": 6400, "ema_decay": 0.995,
                                   "grad_clip": 0.0, "threads": 1},
                         "sample": {"num_images": 16}},
        "mnist-ldm": {**copy.deepcopy(quick), "family": "latent-diffusion",
                      "model": {"autoencoder": "runs/mnist-ldm-ae", "base_channels": 64, "channel_mults": [1],
                                "num_res_blocks": 2, "attention_resolutions": [7], "prediction": "v"}},
    }

# Audio (MUSDB18 stems): sized for a CPU — the previews (50 train tracks × 6.8 s) give ~3,600 half-overlapping
# 32-frame patches per stem; both stop after `train.time_limit_min` minutes. fp32: bf16 autocast is slower on CPUs
# without native bf16, and the STFT/iSTFT inside the vocoder needs fp32.
_AUDIO_TRAIN = {"precision": "fp32", "warmup_steps": 50, "grad_clip": 0.0, "log_every": 20, "threads": 1,
                "checkpoint_every_min": 3.0}


def _spectral_preset(stem: str) -> dict[str, Any]:
    """spectral-ae on 32-frame patches (n_fft 1024, hop 256 → 512 × 32), a 128-number code per frame."""
    return {"family": "spectral-ae",
            "data": {"dataset": "musdb-spec", "options": {"stem": stem, "frames": 32}},
            "model": {"hidden": 256, "num_blocks": 2, "code_dim": 128, "beta": 1e-3},
            "train": {**_AUDIO_TRAIN, "batch_size": 32, "lr": 2e-3, "epochs": 20.0, "time_limit_min": 8.0,
                      "ema_decay": 0.99, "epoch_images": 2048},
            "sample": {"num_images": 16}}


def _vocoder_preset(stem: str) -> dict[str, Any]:
    """vocos on 16,384-sample (0.37 s) segments, 6 CPU minutes: phase-vocoder phase propagation, magnitude as a
    residual over the mel's NNLS inversion, mel-L1 + MR-STFT losses plus direct magnitude and instantaneous-frequency
    losses (see genlab.models.vocoder).

    The adversarial phase is off (``disc_start_step=-1``): on a CPU the discriminator costs ~5x the generator's
    step, and in the first minutes the reconstruction losses are what moves the model (set it ≥ 0 to turn it on).
    """
    return {"family": "vocos",
            "data": {"dataset": "musdb-wave", "options": {"stem": stem, "segment_samples": 16384}},
            "model": {"dim": 128, "hidden": 384, "num_blocks": 4, "disc_channels": 8, "disc_start_step": -1,
                      "phase_mode": "accumulated", "mel_prior": True, "prior_nnls_iters": 3, "lambda_mag": 2.0,
                      "sc_weight": 10.0, "lambda_phase": 2.0},
            "train": {**_AUDIO_TRAIN, "batch_size": 16, "lr": 1e-3, "epochs": 40.0, "time_limit_min": 6.0,
                      "ema_decay": 0.99, "epoch_images": 2048},
            "sample": {"num_images": 4}}


def _universal_vocoder_preset() -> dict[str, Any]:
    """`musdb-vocos`: ONE vocoder for all four stems (issue 17), trained adversarially as Vocos is: MPD + MRD
    discriminators (judging 4 segments of each batch of 16, every step from step 0), LSGAN + feature matching,
    mel-L1 and MR-STFT on the waveform; the magnitude head also regresses the true log-magnitude directly.
    See docs/families.md ("vocos") for the recipe and why."""
    return {"family": "vocos",
            "data": {"dataset": "musdb-wave", "options": {"stem": "all", "segment_samples": 16384}},
            "model": {"dim": 128, "hidden": 384, "num_blocks": 4, "disc_channels": 8, "disc_start_step": 0,
                      "mrd_fft_sizes": [512, 1024, 2048], "mrd_channels": 8, "disc_batch": 4,
                      "phase_mode": "absolute", "mel_prior": True, "prior_nnls_iters": 3, "lambda_mag": 2.0,
                      "sc_weight": 10.0, "lambda_phase": 2.0},
            "train": {**_AUDIO_TRAIN, "batch_size": 16, "lr": 1e-3, "epochs": 400.0, "time_limit_min": 100.0,
                      "ema_decay": 0.995, "epoch_images": 4096, "checkpoint_every_min": 5.0, "keep_last": 2},
            "sample": {"num_images": 4}}


def _audio_presets() -> dict[str, dict[str, Any]]:
    """`musdb-<stem>-spectral-ae` and `musdb-<stem>-vocos` for every MUSDB18 target stem; `musdb-vocos` (all)."""
    out = {"musdb-vocos": _universal_vocoder_preset()}
    for stem in TARGETS:
        out[f"musdb-{stem}-spectral-ae"] = _spectral_preset(stem)
        out[f"musdb-{stem}-vocos"] = _vocoder_preset(stem)
    return out


# The table: every built-in preset, by name.
PRESETS: dict[str, dict[str, Any]] = {**_diffusion_presets(), **_family_presets(), **_channel_presets(),
                                      **_score_presets(), **_beyond_presets(), **_audio_presets(),
                                      **_ae_course_presets()}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset_info(name: str) -> dict[str, Any]:
    """A copy of preset `name`'s values (family, data, model, train, sample), for listings."""
    return _preset_values(name)


def _preset_values(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise GenlabError(f"unknown preset '{name}'{hint}; see `genlab presets` for the list")
    return copy.deepcopy(PRESETS[name])


def _base(values: dict[str, Any], name: str) -> RunConfig:
    family = values.get("family", "diffusion")
    cfg = RunConfig(name=name, family=family, model=get_family(family).Config())
    apply_nested(cfg, values)
    return cfg


def resolve(spec: str | dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    """A preset name, a YAML file path, or a nested dict → RunConfig with `overrides` applied in order."""
    if isinstance(spec, dict):
        values, name = copy.deepcopy(spec), spec.get("name", "run")
    elif spec.endswith((".yaml", ".yml")) or Path(spec).is_file():
        values, name = load_yaml(spec), Path(spec).stem
        if "preset" in values:
            base = _preset_values(values["preset"])
            cfg = _base(base, values.get("name", name))
            apply_nested(cfg, {k: v for k, v in values.items() if k != "name"})
            return apply_overrides(cfg, overrides)
    else:
        values, name = _preset_values(spec), spec
    cfg = _base({k: v for k, v in values.items() if k != "name"}, values.get("name", name))
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: RunConfig, overrides: list[str] | None) -> RunConfig:
    """`cfg` with key=value `overrides` applied in order (name and run_dir included)."""
    for text in overrides or []:
        key, value = parse_override(text)
        if key == "name":
            cfg.name = str(value)
        elif key == "run_dir":
            cfg.run_dir = str(value)
        else:
            set_key(cfg, key, value)
    return cfg
