"""Audio snapshots at inference: load a spectral model or a vocoder, regenerate a stem with a phase strategy.

The layer under `genlab.audio.api` (which adds files in and out) and `genlab.audio.evaluation` (which measures):
waveforms are float32 (C, S) at 44.1 kHz; each channel is processed as its own mono signal, as in training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.audio.chunking import process_in_chunks
from genlab.audio.io import MIN_INPUT_SAMPLES, SAMPLE_RATE_HZ, default_cache_dir, read_wav
from genlab.audio.musdb import MusdbSource, musdb_root
from genlab.audio.phase import griffin_lim, oracle_phase
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, load

PHASES = ("griffin-lim", "mixture", "oracle", "model")
CHUNK_S, OVERLAP_S = 30.0, 1.0  # vocoder chunks for long inputs (a 6.8-s preview is one chunk)

__all__ = ["PHASES", "AudioModel", "apply_phase", "load_audio_model", "load_input", "regenerate_wave",
           "spectral_magnitude", "vocode", "vocoder_polar"]


@dataclass
class AudioModel:
    """A loaded audio snapshot: `kind` is 'spectral' or 'vocoder'; `name` labels it in tables."""

    generator: LoadedModel
    kind: str
    name: str

    @property
    def model(self):
        return self.generator.model

    @property
    def codec(self):
        return self.generator.codec

    @property
    def device(self) -> torch.device:
        return self.generator.device


def load_audio_model(snapshot: str | os.PathLike[str], device: str = "auto", name: str | None = None) -> AudioModel:
    """Load a spectral-model or vocoder snapshot (file or run directory); GenlabError for any other kind."""
    gen = load(snapshot, device=device)
    kinds = {"musdb-spectrogram": "spectral", "musdb-waveform": "vocoder"}
    kind = kinds.get(gen.info.codec.get("kind", "image"))
    if kind is None:
        raise GenlabError(f"{snapshot}: not an audio snapshot (codec '{gen.info.codec.get('kind')}'); expected "
                          "a spectral-ae or vocos run")
    gen.model.eval()
    return AudioModel(gen, kind, name or gen.info.family)


# --- inference ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def spectral_magnitude(am: AudioModel, wave: Tensor) -> Tensor:
    """(C, S) → the model's regenerated linear magnitude (C, F + 1, T), channels as a batch of mono signals."""
    x = am.codec.encode(wave[:, None].to(am.device))  # (C, 1, F, T)
    return am.codec.decode(am.model.reconstruct(x))[:, 0].cpu()


def apply_phase(magnitude: Tensor, stft, length: int, phase: str, reference: Tensor | None, gl_iters: int = 100,
                seed: int = 0, start: Tensor | None = None) -> Tensor:
    """Waveform (C, S) from a magnitude (C, F, T) with a phase strategy (see PHASES); Griffin-Lim starts from the
    phase `start` (C, F, T) if given, else from a seeded random phase."""
    if phase == "griffin-lim":
        gen = torch.Generator().manual_seed(seed)
        return griffin_lim(magnitude, stft, gl_iters, 0.99, length=length, generator=gen, phase=start)
    if phase in ("mixture", "oracle"):
        if reference is None:
            raise GenlabError(f"phase '{phase}' needs a reference signal (the mixture or the original stem)")
        return oracle_phase(magnitude, reference, stft)
    raise GenlabError(f"phase '{phase}': expected one of {', '.join(PHASES)}")


@torch.no_grad()
def vocode(am: AudioModel, wave: Tensor) -> Tensor:
    """(C, S) → vocoded (C, S): the model's own log-mel of each channel, then its generator (chunked if long)."""
    def run(chunk: Tensor) -> Tensor:  # (B, C, s) → (B, C, s)
        flat = chunk.reshape(-1, chunk.shape[-1]).to(am.device)
        out = am.model.vocode(am.model.log_mel(flat)).cpu()
        return _fit_length(out, chunk.shape[-1]).reshape(chunk.shape)

    sr = am.model.cfg.sample_rate_hz
    if wave.shape[-1] <= CHUNK_S * sr:
        return run(wave[None])[0]
    return process_in_chunks(wave, run, int(CHUNK_S * sr), int(OVERLAP_S * sr))


@torch.no_grad()
def vocoder_polar(am: AudioModel, wave: Tensor) -> tuple[Tensor, Tensor]:
    """(C, S) → the vocoder's predicted linear STFT magnitude and phase, each (C, F, T), from each channel's log-mel
    (its STFT is ``am.model.mel.stft``) — to drive Griffin-Lim with the model's magnitude and/or phase."""
    log_mag, phase = am.model.generator.polar(am.model.log_mel(wave.to(am.device)))
    return log_mag.exp().cpu(), phase.cpu()


def _fit_length(x: Tensor, length: int) -> Tensor:
    """Trim or zero-pad the last axis to `length`."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


def regenerate_wave(am: AudioModel, wave: Tensor, phase: str = "griffin-lim", mixture: Tensor | None = None,
                    gl_iters: int = 100) -> Tensor:
    """The model's regeneration of a (C, S) stem: the model's magnitude with the phase strategy `phase`, or for a
    vocoder with phase 'model' its own waveform (its predicted phase)."""
    if am.kind == "vocoder" and phase == "model":
        return vocode(am, wave)
    if phase == "model":
        raise GenlabError("phase 'model': only a vocoder predicts a phase; a spectral model needs griffin-lim, "
                          "mixture or oracle")
    ref = mixture if phase == "mixture" else wave
    if am.kind == "vocoder":
        return apply_phase(vocoder_polar(am, wave)[0], am.model.mel.stft.cpu(), wave.shape[-1], phase, ref, gl_iters)
    return apply_phase(spectral_magnitude(am, wave), am.codec.stft, wave.shape[-1], phase, ref, gl_iters)


# --- inputs -------------------------------------------------------------------------------------------------------
def load_input(source: str | os.PathLike[str], stem: str, data_dir: str | None = None,
               subset: str | None = None) -> tuple[Tensor, Tensor | None, str]:
    """(stem (C, S), mixture (C, S) or None, name) from a WAV file or a MUSDB track name."""
    p = Path(source)
    if p.suffix.lower() in (".wav", ".flac") or p.is_file():
        if not p.is_file():
            raise GenlabError(f"{p}: input audio file not found")
        return torch.from_numpy(read_wav(p, SAMPLE_RATE_HZ, None, min_samples=MIN_INPUT_SAMPLES)), None, p.stem
    src = MusdbSource(musdb_root(data_dir), cache_dir=default_cache_dir())
    track = src.track(str(source), subset)
    wave, mix = (torch.from_numpy(np.array(src.load(track, s), dtype=np.float32)) for s in (stem, "mixture"))
    return wave, mix, track.name
