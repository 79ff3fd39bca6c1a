"""Audio presets (one per stem and model path) and the MUSDB dataset sources, registered on import.

    genlab train musdb-vocals-spectral-ae       # conv VAE on 512-bin log-magnitude patches of the vocals stem
    genlab train musdb-vocals-vocos             # Vocos-style mel → (magnitude, phase) → waveform vocoder

Sized for a CPU: the previews (50 train tracks × 6.8 s) give ~3,600 half-overlapping 32-frame patches per stem;
both presets stop after `train.time_limit_min` minutes. fp32 (bf16 autocast is slower on CPUs without native bf16,
and the STFT/iSTFT inside the vocoder needs fp32).
"""

from __future__ import annotations

from typing import Any

from genlab.audio.dataset import register_sources
from genlab.audio.musdb import TARGETS
from genlab.config.presets import register_preset

_COMMON_TRAIN = {"precision": "fp32", "warmup_steps": 50, "grad_clip": 0.0, "log_every": 20, "threads": 1,
                 "checkpoint_every_min": 3.0}


def spectral_preset(stem: str) -> dict[str, Any]:
    """spectral-ae on 32-frame patches (n_fft 1024, hop 256 → 512 × 32), a 128-number code per frame."""
    return {"family": "spectral-ae",
            "data": {"dataset": "musdb-spec", "options": {"stem": stem, "frames": 32}},
            "model": {"hidden": 256, "num_blocks": 2, "code_dim": 128, "beta": 1e-3},
            "train": {**_COMMON_TRAIN, "batch_size": 32, "lr": 2e-3, "epochs": 20.0, "time_limit_min": 8.0,
                      "ema_decay": 0.99, "epoch_images": 2048},
            "sample": {"num_images": 16}}


def vocoder_preset(stem: str) -> dict[str, Any]:
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
            "train": {**_COMMON_TRAIN, "batch_size": 16, "lr": 1e-3, "epochs": 40.0, "time_limit_min": 6.0,
                      "ema_decay": 0.99, "epoch_images": 2048},
            "sample": {"num_images": 4}}


register_sources()
for _stem in TARGETS:
    register_preset(f"musdb-{_stem}-spectral-ae", spectral_preset(_stem))
    register_preset(f"musdb-{_stem}-vocos", vocoder_preset(_stem))
