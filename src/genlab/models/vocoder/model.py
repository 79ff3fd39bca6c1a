"""The "vocos" family: a mel → waveform neural vocoder trained with multi-resolution STFT, mel and adversarial losses.

Data: waveform segments in model space (N, 1, 1, S) (``image_shape = (1, 1, S)``, see
`genlab.audio.dataset.WaveformCodec`). The model owns its input transform — a log-mel front-end (filterbank as a
buffer) — so a snapshot vocodes any waveform's mel without the training flags.

Losses (HiFi-GAN, Kong et al. 2020, eqs. 1–6, with LSGAN objectives; Vocos, Siuzdak 2023, §3.3):
- generator: λ_mel · ‖log mel(ŵ) − log mel(w)‖₁ + λ_stft · MR-STFT(w, ŵ) (Yamamoto et al. 2020, eqs. 4–6)
  + λ_adv · Σ_k E[(1 − D_k(ŵ))²] + λ_fm · Σ_k Σ_l ‖D_k^l(w) − D_k^l(ŵ)‖₁ / L_k;
  optionally, on the predicted STFT X̂ = m̂·e^{ip̂} itself against the target's STFT X at the same frames:
  λ_mag · (‖m̂ − log max(|X|, 1e-5)‖₁ + w_sc · ‖e^m̂ − |X|‖_F / ‖|X|‖_F) and λ_phase · the instantaneous-frequency loss
  of APNet (Ai & Ling 2023, eq. 10): the anti-wrapped error ``|e − 2π round(e / 2π)|`` of the phase advance per
  frame, here weighted by the target magnitude so a silent bin's random phase counts nothing, and λ_gd · the same
  error ACROSS frequency (APNet's group-delay loss: the phase difference between neighbouring bins of a
  frame, weighted alike), the relation the time-only term leaves free (docs/audio.md). With λ_mag > 0 the
  magnitude learns from its own loss only (it is detached inside the waveform losses), so it cannot grow wrong to
  make up for a phase that is still cancelling in the overlap-add; the waveform losses then train the phase;
- discriminator: Σ_k E[(1 − D_k(w))²] + E[D_k(ŵ)²].
Phases: only "generator" before `disc_start_step` (a warm start on the reconstruction losses), then
"discriminator" followed by "generator" every step (``disc_start_step`` < 0: never, the GAN is off).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.audio.transforms import MelSpectrogram
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, Logs
from genlab.models.vocoder.losses import MultiResolutionStftDistance
from genlab.models.vocoder.networks import (
    PHASE_MODES,
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    VocosGenerator,
)
from genlab.utils.seeding import randn_per_sample

LOG_MEL_FLOOR = 1e-5  # HiFi-GAN's clamp before the log (−100 dB re full-scale magnitude)


@dataclass
class VocosConfig:
    sample_rate_hz: int = 44100
    n_fft: int = 1024  # STFT of both the mel front-end and the generator's iSTFT
    hop: int = 256
    n_mels: int = 128
    dim: int = 128  # ConvNeXt width
    hidden: int = 384  # ConvNeXt MLP width
    num_blocks: int = 4
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    disc_channels: int = 8
    mrd_fft_sizes: list[int] = field(default_factory=list)  # multi-resolution discriminator; [] = MPD only
    mrd_channels: int = 8
    disc_batch: int = 0  # segments of each batch the discriminators judge (0: all); the cheap way to keep them on
    lambda_mel: float = 15.0
    lambda_stft: float = 1.0
    lambda_adv: float = 1.0
    lambda_fm: float = 2.0
    disc_start_step: int = 0  # generator-only warm start (steps); < 0: no discriminator phase at all
    stft_sizes: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    phase_mode: str = "absolute"  # 'absolute' (Vocos) | 'accumulated' (phase-vocoder propagation), see networks.py
    mel_prior: bool = False  # predict the log-magnitude as a residual over the mel's band envelope (networks.py)
    prior_nnls_iters: int = 0  # NNLS refinement of that envelope
    lambda_mag: float = 0.0  # direct log-magnitude L1 + sc_weight · spectral convergence on the predicted STFT
    sc_weight: float = 1.0  # > 1 keeps the loud bins (what spectral convergence measures) from trading for quiet ones
    lambda_phase: float = 0.0  # magnitude-weighted anti-wrapped instantaneous-frequency loss
    lambda_group_delay: float = 0.0  # the same along frequency: the phase difference between neighbouring bins

    def validate(self, family: str) -> None:
        """One-line GenlabError naming a bad value (types are checked by `resolve_config`)."""
        for name, high in (("sample_rate_hz", 384_000), ("n_fft", 1 << 16), ("hop", 1 << 16), ("n_mels", 4096),
                           ("dim", 1 << 14), ("hidden", 1 << 16), ("num_blocks", 64), ("disc_channels", 1 << 12)):
            if not 1 <= getattr(self, name) <= high:
                raise GenlabError(f"{family}: option '{name}' = {getattr(self, name)} must be in 1..{high}")
        if self.phase_mode not in PHASE_MODES:
            raise GenlabError(f"{family}: phase_mode '{self.phase_mode}': expected one of {', '.join(PHASE_MODES)}")
        if not 1 <= len(self.stft_sizes) <= 8 or not all(4 <= n <= 1 << 16 for n in self.stft_sizes):
            raise GenlabError(f"{family}: stft_sizes {self.stft_sizes}: expected 1-8 sizes in 4..65536")
        if not 1 <= len(self.periods) <= 16 or not all(1 <= p <= 1024 for p in self.periods):
            raise GenlabError(f"{family}: periods {self.periods}: expected 1-16 periods in 1..1024")
        if len(self.mrd_fft_sizes) > 8 or not all(16 <= n <= 1 << 16 for n in self.mrd_fft_sizes):
            raise GenlabError(f"{family}: mrd_fft_sizes {self.mrd_fft_sizes}: expected 0-8 sizes in 16..65536")
        if not 1 <= self.mrd_channels <= 1 << 12:
            raise GenlabError(f"{family}: option 'mrd_channels' = {self.mrd_channels} must be in 1..4096")
        if not 0 <= self.disc_batch <= 1 << 16:
            raise GenlabError(f"{family}: option 'disc_batch' = {self.disc_batch} must be in 0..65536 (0: whole batch)")
        if not 0 <= self.prior_nnls_iters <= 1000:
            raise GenlabError(f"{family}: prior_nnls_iters = {self.prior_nnls_iters} must be in 0..1000")
        for name in ("lambda_mag", "lambda_phase", "lambda_group_delay"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise GenlabError(f"{family}: option '{name}' = {getattr(self, name)} must be a finite number ≥ 0")


def _lsgan_generator(fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    return sum(((1.0 - logits) ** 2).mean() for logits, _ in fake)


def anti_wrap(x: Tensor) -> Tensor:
    """|x − 2π round(x / 2π)|: the distance between two angles that differ by x (APNet, eq. 8)."""
    return (x - 2 * torch.pi * torch.round(x / (2 * torch.pi))).abs()


def phase_derivative_loss(phase: Tensor, target: Tensor, dim: int) -> Tensor:
    """Magnitude-weighted anti-wrapped error of the phase difference between neighbours along `dim` of the
    predicted phase (N, F, T) against a complex target STFT (N, F, T), whose difference is angle(X[j] · conj(X[j−1]))
    (no unwrapping needed); weights √(|X[j]| |X[j−1]|), so a bin or pair of bins without energy counts nothing."""
    n = target.shape[dim]
    a, b = target.narrow(dim, 1, n - 1), target.narrow(dim, 0, n - 1)
    weight = (a.abs() * b.abs()).sqrt()
    err = anti_wrap(phase.diff(dim=dim) - torch.angle(a * b.conj()))
    return (weight * err).sum() / weight.sum().clamp_min(1e-8)


def instantaneous_frequency_loss(phase: Tensor, target: Tensor) -> Tensor:
    """The phase advance per frame (along time; APNet's instantaneous-frequency loss, eq. 10)."""
    return phase_derivative_loss(phase, target, -1)


def group_delay_loss(phase: Tensor, target: Tensor) -> Tensor:
    """The phase difference between neighbouring frequency bins (along frequency: minus the group delay times the
    bin spacing; APNet's group-delay loss): the phase relation ACROSS frequency within a frame, which the
    instantaneous-frequency term does not constrain (docs/audio.md, "Where the gap is")."""
    return phase_derivative_loss(phase, target, -2)


def _feature_matching(real: list[tuple[Tensor, list[Tensor]]], fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    total = 0.0
    for (_, f_real), (_, f_fake) in zip(real, fake):
        total = total + sum((a.detach() - b).abs().mean() for a, b in zip(f_real, f_fake)) / len(f_real)
    return total


class Vocos(GenerativeModel):
    """Vocos-style vocoder with a HiFi-GAN multi-period discriminator. Model space: waveforms (N, 1, 1, S)."""

    family = "vocos"
    Config = VocosConfig
    sampling_options = ("log_mel",)  # the mel spectrogram to vocode (default: a seeded smooth random one)
    conditional = False  # conditioned on a mel spectrogram, not on class labels
    domain = "audio"
    # options a warm start (train.init_from) may not change: same-shaped weights would mean another thing (another
    # mel front-end, or the head's phase read as an absolute angle vs a per-frame advance)
    warm_start_fixed = ("sample_rate_hz", "n_fft", "hop", "n_mels", "phase_mode", "mel_prior")

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        if self.image_shape[0] != 1 or self.image_shape[1] != 1 or self.image_shape[2] < cfg.n_fft:
            raise GenlabError(f"vocos: expects waveform segments image_shape=(1, 1, S) with S ≥ n_fft={cfg.n_fft}, "
                              f"got {self.image_shape} (use the musdb-wave dataset)")
        if num_classes:
            raise GenlabError("vocos: a vocoder is conditioned on a mel spectrogram, not on class labels")
        self.mel = MelSpectrogram(cfg.sample_rate_hz, cfg.n_fft, cfg.hop, cfg.n_mels)
        self.generator = VocosGenerator(cfg.n_mels, cfg.n_fft, cfg.hop, cfg.dim, cfg.hidden, cfg.num_blocks,
                                        cfg.phase_mode, prior_filterbank=self.mel.filterbank if cfg.mel_prior else None,
                                        prior_nnls_iters=cfg.prior_nnls_iters)
        self.discriminator = (CombinedDiscriminator(cfg.periods, cfg.mrd_fft_sizes, cfg.disc_channels, cfg.mrd_channels)
                              if cfg.mrd_fft_sizes else MultiPeriodDiscriminator(cfg.periods, cfg.disc_channels))
        self.mr_stft = MultiResolutionStftDistance(cfg.stft_sizes)

    # --- the vocoder --------------------------------------------------------------------------------------------
    def log_mel(self, wave: Tensor) -> Tensor:
        """(N, S) waveform → (N, M, T) natural-log mel magnitude, T = S // hop + 1."""
        return self.mel(wave).clamp_min(LOG_MEL_FLOOR).log()

    def vocode(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) log-mel → (N, (T − 1) · hop) waveform."""
        return self.generator(log_mel)

    def magnitude(self, log_mel: Tensor) -> Tensor:
        """(N, M, T) log-mel → the predicted linear STFT magnitude (N, n_fft/2 + 1, T), e.g. for Griffin-Lim."""
        return torch.exp(self.generator.polar(log_mel)[0])

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        return ["discriminator", "generator"] if self.training_step_adversarial() else ["generator"]

    def group_betas(self) -> dict[str, list[float]]:
        return {"generator": [0.8, 0.99], "discriminator": [0.8, 0.99]}  # HiFi-GAN's Adam betas

    # --- training -----------------------------------------------------------------------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        wave = x.reshape(x.shape[0], -1)  # (N, 1, 1, S) → (N, S)
        log_mag, phase_hat = self.generator.polar(self.log_mel(wave))
        supervised = self.cfg.lambda_mag > 0
        fake = self.generator.synthesise(torch.polar(torch.exp(log_mag.detach() if supervised else log_mag), phase_hat))
        if phase == "discriminator":
            k = self.cfg.disc_batch or wave.shape[0]
            return self._discriminator_loss(wave[:k], fake[:k].detach())
        if phase == "generator":
            return self._generator_loss(wave, fake, log_mag, phase_hat)
        raise GenlabError(f"vocos: unknown phase '{phase}'")

    def _discriminator_loss(self, wave: Tensor, fake: Tensor) -> tuple[Tensor, Logs]:
        real_out, fake_out = self.discriminator(wave), self.discriminator(fake)
        d_real = sum(((1.0 - r) ** 2).mean() for r, _ in real_out)
        d_fake = sum((f ** 2).mean() for f, _ in fake_out)
        loss = d_real + d_fake
        return loss, {"d_loss": loss.detach(), "d_real": d_real.detach(), "d_fake": d_fake.detach()}

    def _generator_loss(self, wave: Tensor, fake: Tensor, log_mag: Tensor, phase: Tensor) -> tuple[Tensor, Logs]:
        c = self.cfg
        mel_l1 = (self.log_mel(fake) - self.log_mel(wave)).abs().mean()
        stft = self.mr_stft(wave, fake).mean()
        loss = c.lambda_mel * mel_l1 + c.lambda_stft * stft
        logs: Logs = {"mel_l1": mel_l1.detach(), "mr_stft": stft.detach()}
        if c.lambda_mag > 0 or c.lambda_phase > 0 or c.lambda_group_delay > 0:
            target = self.generator.stft(wave)  # the frames the generator predicts, (N, F, T)
            mag = target.abs()
            log_l1 = (log_mag - mag.clamp_min(LOG_MEL_FLOOR).log()).abs().mean()
            sc = torch.linalg.vector_norm(torch.exp(log_mag) - mag) / torch.linalg.vector_norm(mag).clamp_min(1e-8)
            inst_freq = instantaneous_frequency_loss(phase, target)
            loss = loss + c.lambda_mag * (log_l1 + c.sc_weight * sc) + c.lambda_phase * inst_freq
            logs |= {"mag_log_l1": log_l1.detach(), "mag_sc": sc.detach(), "phase_if": inst_freq.detach()}
            if c.lambda_group_delay > 0:
                group_delay = group_delay_loss(phase, target)
                loss = loss + c.lambda_group_delay * group_delay
                logs["phase_gd"] = group_delay.detach()
        if self.training_step_adversarial():
            k = c.disc_batch or wave.shape[0]
            fake_out = self.discriminator(fake[:k])
            with torch.no_grad():  # feature-matching targets: no gradient needed through the real branch
                real_out = self.discriminator(wave[:k])
            adv, fm = _lsgan_generator(fake_out), _feature_matching(real_out, fake_out)
            loss = loss + c.lambda_adv * adv + c.lambda_fm * fm
            logs |= {"g_adv": adv.detach(), "fm": fm.detach()}
        return loss, {"loss": loss.detach(), **logs}

    def training_step_adversarial(self) -> bool:
        """Whether the generator's loss includes the adversarial terms (after the warm start)."""
        return 0 <= self.cfg.disc_start_step <= getattr(self, "_step", 0)

    def set_step(self, step: int) -> None:
        self._step = int(step)

    # --- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, log_mel: Tensor | None = None,
                 callback: Any = None) -> Tensor:
        """Waveforms (N, 1, 1, S) in [-1, 1]: from `log_mel` (N, M, T) if given, else from a seeded smooth random
        log-mel (a smoke-test signal: mean −4, time-smoothed N(0, 1.5²) per bin) of the training segment length."""
        n_frames = self.image_shape[2] // self.cfg.hop + 1
        if log_mel is None:
            noise = randn_per_sample(seeds, (self.cfg.n_mels, n_frames), device=self.mel.filterbank.device)
            log_mel = F.avg_pool1d(noise, 5, 1, 2, count_include_pad=False) * 1.5 - 4.0
        wave = self.vocode(log_mel).clamp(-1.0, 1.0)
        return wave[:, None, None, :]

