"""Audio facade: regenerate a stem from a snapshot, and evaluate snapshots against Griffin-Lim and the oracle.

    from genlab.audio.api import regenerate, evaluate_audio
    regenerate("Al James - Schoolboy Facination", "vocals", "runs/audio/vocals-vocos", "out.wav")
    result = evaluate_audio("test", ["vocals"], ["runs/audio/vocals-spectral-ae", "runs/audio/vocals-vocos"],
                            n_tracks=5, out_dir="runs/audio/eval")
    print(result.markdown)          # medians per stem and method; result.html is the listening page

Two kinds of snapshot are understood, told apart by their codec: a spectrogram model ("musdb-spectrogram" codec:
magnitude regenerated through the model, then a phase strategy — Griffin-Lim, the mixture's phase, or the
stem's own phase as an oracle) and a vocoder ("musdb-waveform" codec: log-mel → predicted magnitude and phase →
waveform; phase 'model' keeps its phase, the other strategies use its magnitude). Waveforms are float32 (C, S) at
44.1 kHz; each channel is processed as its own mono signal, as in training.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from genlab.audio.evaluation import Evaluation, run_evaluation
from genlab.audio.io import SAMPLE_RATE_HZ, write_wav
from genlab.audio.musdb import MusdbSource, musdb_root
from genlab.audio.sampling import (
    PHASES,
    AudioModel,
    apply_phase,
    load_audio_model,
    load_input,
    regenerate_wave,
    spectral_magnitude,
    vocode,
    vocoder_polar,
)
from genlab.errors import GenlabError

__all__ = ["PHASES", "AudioModel", "apply_phase", "evaluate_audio", "load_audio_model", "load_input",
           "musdb_track_names", "regenerate", "regenerate_wave", "spectral_magnitude", "vocode", "vocoder_polar"]


def musdb_track_names(data_dir: str | os.PathLike[str] | None = None, subset: str = "test") -> list[str]:
    """Names of the MUSDB18 tracks of `subset` under the data directory; GenlabError saying why when there are
    none (no MUSDB folder, or an empty subset)."""
    names = [t.name for t in MusdbSource(musdb_root(data_dir)).tracks(subset)]
    if not names:
        raise GenlabError(f"the MUSDB18 '{subset}' folder under the data directory holds no tracks")
    return names


def regenerate(source: str | os.PathLike[str], stem: str, snapshot: str | os.PathLike[str],
               out_wav: str | os.PathLike[str], *, phase: str = "griffin-lim", gl_iters: int = 100,
               data_dir: str | None = None, subset: str | None = None, device: str = "auto") -> Path:
    """Regenerate `stem` of a WAV file or MUSDB track through a snapshot and write it to `out_wav` (44.1 kHz).

    phase, applied to the model's magnitude: 'griffin-lim' (gl_iters iterations), 'mixture' (the track's mixture
    phase; MUSDB tracks only), 'oracle' (the input's own phase — an upper bound, not a regeneration) or, for
    vocoders, 'model' (the vocoder's own phase and waveform). For a vocoder 'griffin-lim' is its best path on the
    MUSDB18-7 comparison (README, "Audio" results).
    """
    if phase not in PHASES:
        raise GenlabError(f"--phase {phase}: expected one of {', '.join(PHASES)}")
    am = load_audio_model(snapshot, device)
    wave, mixture, _ = load_input(source, stem, data_dir, subset)
    if phase == "mixture" and mixture is None:
        raise GenlabError(f"{source}: --phase mixture needs a MUSDB track (a WAV input has no mixture)")
    out = regenerate_wave(am, wave, phase, mixture, gl_iters)
    return write_wav(out_wav, out.numpy(), SAMPLE_RATE_HZ)


def evaluate_audio(subset: str = "test", stems: Sequence[str] = ("vocals",),
                   snapshots: Sequence[str | os.PathLike[str]] = (), n_tracks: int = 5,
                   out_dir: str | os.PathLike[str] = "runs/audio-eval", *, data_dir: str | None = None,
                   gl_iters: Sequence[int] = (32, 100), with_museval: bool = False, listen_tracks: int = 3,
                   device: str = "auto") -> Evaluation:
    """Per stem and track: every snapshot's regeneration and the baselines on the same input, measured.

    Writes `out_dir`/results.json (rows + medians), table.md, WAVs and PNGs for the first `listen_tracks` tracks,
    and index.html (the listening page). Returns an `genlab.audio.evaluation.Evaluation`.
    """
    models = [load_audio_model(s, device, name=_label(s)) for s in snapshots]
    return run_evaluation(subset, list(stems), models, n_tracks, Path(out_dir), data_dir, tuple(gl_iters),
                          with_museval, listen_tracks)


def _label(snapshot: str | os.PathLike[str]) -> str:
    """A short table label: the run directory's name (or the file's stem)."""
    p = Path(snapshot)
    if p.is_file():
        return p.parent.name if p.name == "snapshot.safetensors" else p.stem
    return p.name
