"""MUSDB18 stems as training datasets for the engine, and the codecs that turn their waveforms into model space.

Both datasets hold mono waveform segments (each channel of a stereo stem is its own example) and hand the engine
``get_batch(indices) -> (waves (B, 1, S) float32, None)``; the codec turns them into model space:

- ``SpectrogramPatchCodec`` (source ``musdb-spec``): waveform → log1p-compressed STFT magnitude → per-frequency
  standardisation (Open-Unmix style, statistics fitted on the training stems) → divided by `scale` and clamped to
  [-1, 1]; the Nyquist bin is dropped so F = n_fft / 2 is a power of two. Model space ``(B, 1, F, T)``.
- ``WaveformCodec`` (source ``musdb-wave``, for vocoders): the waveform itself as ``(B, 1, 1, S)`` in [-1, 1].

Both codecs are JSON (`state()`, listed in `genlab.data.codecs.CODECS`), so snapshots rebuild them,
statistics included. Silent segments (RMS below `min_rms_dbfs`) are left out, so a vocals model does not learn
mostly silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.audio.io import default_cache_dir, is_silent
from genlab.audio.musdb import TARGETS, MusdbSource, musdb_root
from genlab.audio.transforms import SpectrogramCodec, SpectrogramConfig
from genlab.errors import GenlabError

SPLITS = ("train", "valid", "test")


class SpectrogramPatchCodec:
    """Waveform (B, C, S) ↔ model-space log-magnitude patches (B, C, F, T) in [-1, 1] (F = n_fft // 2)."""

    kind = "musdb-spectrogram"

    def __init__(self, n_fft: int = 1024, hop: int = 256, log_ref: float = 1e-3, scale: float = 4.0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, sample_rate_hz: int = 44100,
                 **_: Any):
        self.spec = SpectrogramCodec(SpectrogramConfig(kind="stft", n_fft=n_fft, hop=hop, log_ref=log_ref,
                                                       sample_rate_hz=sample_rate_hz))
        self.n_fft, self.hop, self.log_ref, self.scale = int(n_fft), int(hop), float(log_ref), float(scale)
        self.sample_rate_hz = int(sample_rate_hz)
        if mean is not None and std is not None:
            self.spec.norm.mean.copy_(torch.as_tensor(list(mean), dtype=torch.float32))
            self.spec.norm.std.copy_(torch.as_tensor(list(std), dtype=torch.float32))

    @property
    def bins(self) -> int:
        return self.n_fft // 2

    @property
    def stft(self):
        return self.spec.stft

    def fit(self, waves: Sequence[Tensor]) -> SpectrogramPatchCodec:
        """Fit the per-frequency mean/std over (N, C, S) waveform batches."""
        self.spec.fit_stats(waves)
        return self

    def encode(self, wave: Tensor) -> Tensor:
        """(B, C, S) waveform → (B, C, F, T) in [-1, 1], T = S // hop + 1."""
        feats = self.spec.to(wave.device).encode(wave.float())[..., : self.bins, :]
        return (feats / self.scale).clamp(-1.0, 1.0)

    def decode(self, x: Tensor) -> Tensor:
        """(B, C, F, T) model space → linear STFT magnitude (B, C, F + 1, T) (the Nyquist bin is zero)."""
        feats = torch.nn.functional.pad(x.float() * self.scale, (0, 0, 0, 1))
        mag = self.spec.to(x.device).decode(feats)
        mag[..., -1, :] = 0.0
        return mag

    def magnitude(self, wave: Tensor) -> Tensor:
        """The exact linear magnitude (B, C, F + 1, T) the codec sees, Nyquist bin zeroed like `decode`."""
        mag = self.spec.to(wave.device).magnitude(wave.float())
        mag[..., -1, :] = 0.0
        return mag

    def to_display(self, x: Tensor) -> Tensor:
        """(B, C, F, T) → uint8 (B, 1, F, T) image, low frequencies at the bottom."""
        img = ((x[:, :1].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
        return img.flip(-2)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_fft": self.n_fft, "hop": self.hop, "log_ref": self.log_ref,
                "scale": self.scale, "sample_rate_hz": self.sample_rate_hz,
                "mean": [round(float(v), 6) for v in self.spec.norm.mean],
                "std": [round(float(v), 6) for v in self.spec.norm.std]}


class WaveformCodec:
    """Waveform (B, C, S) ↔ model space (B, C, 1, S) clamped to [-1, 1]; displayed as a log spectrogram."""

    kind = "musdb-waveform"

    def __init__(self, sample_rate_hz: int = 44100, display_fft: int = 512, **_: Any):
        self.sample_rate_hz, self.display_fft = int(sample_rate_hz), int(display_fft)

    def encode(self, wave: Tensor) -> Tensor:
        return wave.float().clamp(-1.0, 1.0).unsqueeze(-2)

    def decode(self, x: Tensor) -> Tensor:
        """(B, C, 1, S) → (B, C, S) waveform."""
        return x.float().squeeze(-2)

    def to_display(self, x: Tensor) -> Tensor:
        """(B, C, 1, S) → uint8 (B, 1, F, T) log-magnitude image (80 dB range, low frequencies at the bottom)."""
        n = self.display_fft
        window = torch.hann_window(n, device=x.device)
        spec = torch.stft(x[:, 0, 0].float(), n, n // 4, window=window, return_complex=True).abs()
        db = 20 * torch.log10(spec.clamp_min(1e-5))
        db = db - db.amax(dim=(-2, -1), keepdim=True)
        img = ((db.clamp(-80, 0) + 80) / 80 * 255).round().to(torch.uint8)
        return img.flip(-2).unsqueeze(1)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "sample_rate_hz": self.sample_rate_hz, "display_fft": self.display_fft}



@dataclass
class StemSegments:
    """Mono segments of one stem, cut from whole signals on a regular grid (map-style dataset for the engine).

    signals: list of 1-D float32 arrays (one per track channel); segment_samples: S; stride: samples between
    segment starts. image_shape is what the model sees: (1, F, T) for spectrograms, (1, 1, S) for waveforms.
    """

    name: str
    signals: list[np.ndarray]
    segment_samples: int
    stride: int
    representation: str = "spectrogram"
    n_fft: int = 1024
    hop: int = 256
    min_rms_dbfs: float = -50.0
    num_classes: int = 0
    levels: int = 0
    labels: None = None

    def __post_init__(self) -> None:
        if self.representation not in ("spectrogram", "waveform"):
            raise GenlabError(f"representation '{self.representation}': expected spectrogram or waveform")
        self.index = self._grid()
        if not self.index:
            raise GenlabError(f"dataset '{self.name}': no non-silent segments of {self.segment_samples} samples")
        self._codec: Any = None

    def _grid(self) -> list[tuple[int, int]]:
        out = []
        for k, sig in enumerate(self.signals):
            for start in range(0, max(len(sig) - self.segment_samples, 0) + 1, self.stride):
                if not is_silent(sig[start: start + self.segment_samples][None], self.min_rms_dbfs):
                    out.append((k, start))
        return out

    def __len__(self) -> int:
        return len(self.index)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        if self.representation == "waveform":
            return (1, 1, self.segment_samples)
        return (1, self.n_fft // 2, self.segment_samples // self.hop + 1)

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[Tensor, None]:
        """Waveforms (B, 1, S) float32 for `indices` (the codec maps them to model space)."""
        out = np.zeros((len(indices), 1, self.segment_samples), dtype=np.float32)
        for i, j in enumerate(np.asarray(indices, dtype=np.int64)):
            k, start = self.index[int(j)]
            seg = self.signals[k][start: start + self.segment_samples]
            out[i, 0, : len(seg)] = seg
        return torch.from_numpy(out), None

    def codec(self) -> SpectrogramPatchCodec | WaveformCodec:
        """The codec, fitted on (up to 256 of) this dataset's segments for spectrograms (cached)."""
        if self._codec is None:
            if self.representation == "waveform":
                self._codec = WaveformCodec()
            else:
                pick = np.linspace(0, len(self) - 1, min(len(self), 256)).astype(int)
                batches = [self.get_batch(pick[i: i + 32])[0] for i in range(0, len(pick), 32)]
                self._codec = SpectrogramPatchCodec(self.n_fft, self.hop).fit(batches)
        return self._codec


def stem_signals(source: MusdbSource, subset: str, stem: str, split: str | None = None,
                 max_tracks: int = 0) -> tuple[list[str], list[np.ndarray]]:
    """(track names, mono float32 signals) of one stem: each channel of each non-silent track."""
    if stem not in TARGETS + ("mixture",):
        raise GenlabError(f"unknown stem '{stem}'; expected one of {', '.join(TARGETS)}")
    tracks = source.tracks(subset, split)
    tracks = tracks[:max_tracks] if max_tracks > 0 else tracks
    names, signals = [], []
    for t in tracks:
        audio = np.asarray(source.load(t, stem), dtype=np.float32)
        if is_silent(audio):
            continue
        names.append(t.name)
        signals.extend(np.ascontiguousarray(ch) for ch in audio)
    return names, signals


def load_musdb_segments(split: str, data_dir: Path, download: bool = False, stem: str = "vocals",
                        representation: str = "spectrogram", frames: int = 32, segment_samples: int = 16384,
                        n_fft: int = 1024, hop: int = 256, max_tracks: int = 0, min_rms_dbfs: float = -50.0,
                        variant: str = "MUSDB18-7") -> StemSegments:
    """Registered loader: MUSDB18 `stem` of split train|valid|test as mono segments (half-overlapping); stem 'all'
    pools the four target stems (drums, bass, other, vocals) into one dataset.

    Spectrograms use patches of `frames` STFT frames; waveforms use `segment_samples` samples.
    """
    if split not in SPLITS:
        raise GenlabError(f"musdb split '{split}': expected one of {', '.join(SPLITS)}")
    subset, sub = ("test", None) if split == "test" else ("train", split if split == "valid" else None)
    root = musdb_root(data_dir, variant)
    source = MusdbSource(root, cache_dir=default_cache_dir())
    split_arg = sub if _has_valid(source, sub) else None
    signals = [sig for s in (TARGETS if stem == "all" else (stem,))  # 'all': the four stems pooled (universal vocoder)
               for sig in stem_signals(source, subset, s, split_arg, max_tracks)[1]]
    if not signals:
        raise GenlabError(f"{root}/{subset}: no non-silent '{stem}' stems")
    seg = (frames - 1) * hop if representation == "spectrogram" else int(segment_samples)
    return StemSegments(f"musdb-{stem}", signals, seg, max(seg // 2, 1), representation, n_fft, hop, min_rms_dbfs)


def _has_valid(source: MusdbSource, split: str | None) -> bool:
    """The preview set has few or none of the official validation tracks; use all training tracks then."""
    return split is not None and bool(source.tracks("train", "valid"))


def load_spec(split: str, data_dir: Path, download: bool = False, **options: Any) -> StemSegments:
    return load_musdb_segments(split, data_dir, download, representation="spectrogram", **options)


def load_wave(split: str, data_dir: Path, download: bool = False, **options: Any) -> StemSegments:
    return load_musdb_segments(split, data_dir, download, representation="waveform", **options)
