"""Time-frequency transforms as torch modules: STFT, log-mel, magnitude compression and normalisation statistics.

Layouts: waveforms ``(N, C, S)``; spectrograms ``(N, C, F, T)`` with F frequency bins (``n_fft // 2 + 1``, or
``n_mels``) and T frames. Every parameter a model needs to turn its output back into audio — window, sizes, the mel
filterbank and the per-frequency mean/std — is a buffer, so it is saved in the model's state dict / snapshot, and
`config()` gives the JSON for the snapshot header (``SpectrogramCodec.from_config(cfg)`` rebuilds the module; the
statistics then come back with ``load_state_dict``).

References: the mel filterbank is librosa's (Slaney-style, area-normalised; McFee et al. 2015); power-law magnitude
compression with exponent 0.3 follows Wilson et al. 2018 / Braun & Tashev 2021 ("power-law compressed spectra");
per-frequency standardisation as in Open-Unmix (Stöter et al. 2019).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError

COMPRESSIONS = ("none", "log1p", "power")
KINDS = ("stft", "mel")


def _fold(x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """(..., S) → (B, S) and the leading shape, since torch.stft takes 1-D or 2-D input."""
    return x.reshape(-1, x.shape[-1]), tuple(x.shape[:-1])


class Stft(nn.Module):
    """Complex STFT with a periodic Hann window: ``(..., S)`` → ``(..., F, T)``, ``F = n_fft // 2 + 1``.

    ``centre=True`` pads n_fft//2 samples each side (reflect), so frame t is centred on sample ``t * hop``;
    the inverse (``torch.istft``, least-squares overlap-add, Griffin & Lim 1984 eq. 6) is exact for hop ≤ n_fft/2.
    """

    def __init__(self, n_fft: int = 2048, hop: int = 512, centre: bool = True):
        super().__init__()
        if n_fft < 2 or not 0 < hop <= n_fft:
            raise GenlabError(f"STFT: need n_fft ≥ 2 and 0 < hop ≤ n_fft, got n_fft={n_fft}, hop={hop}")
        self.n_fft, self.hop, self.centre = int(n_fft), int(hop), bool(centre)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    def check_length(self, num_samples: int) -> None:
        """GenlabError when `num_samples` cannot make one frame (centred reflect padding needs > n_fft/2)."""
        need = self.n_fft // 2 + 1 if self.centre else self.n_fft
        if num_samples < need:
            raise GenlabError(f"audio of {num_samples} samples is shorter than one STFT frame; expected at least "
                              f"{need} samples (n_fft={self.n_fft})")

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a signal of `num_samples` samples."""
        if self.centre:
            return num_samples // self.hop + 1
        return max(0, (num_samples - self.n_fft) // self.hop + 1)

    def forward(self, wave: Tensor) -> Tensor:
        """(..., S) real → (..., F, T) complex; GenlabError for a signal too short to hold one frame."""
        self.check_length(wave.shape[-1])
        flat, lead = _fold(wave)
        spec = torch.stft(flat, self.n_fft, self.hop, window=self.window.to(flat.dtype), center=self.centre,
                          pad_mode="reflect", return_complex=True)
        return spec.reshape(*lead, *spec.shape[-2:])

    def inverse(self, spec: Tensor, length: int | None = None) -> Tensor:
        """(..., F, T) complex → (..., S) real; `length` trims/pads to the original sample count."""
        flat = spec.reshape(-1, *spec.shape[-2:])
        window = self.window.to(flat.real.dtype)
        wave = torch.istft(flat, self.n_fft, self.hop, window=window, center=self.centre, length=length)
        return wave.reshape(*spec.shape[:-2], wave.shape[-1])

    def inverse_polar(self, magnitude: Tensor, phase: Tensor, length: int | None = None) -> Tensor:
        """Waveform from a magnitude and a phase (radians), both (..., F, T)."""
        return self.inverse(torch.polar(magnitude, phase), length)


def mel_filterbank(sample_rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float = 0.0,
                   fmax_hz: float | None = None) -> Tensor:
    """(n_mels, n_fft//2+1) Slaney mel filterbank from ``librosa.filters.mel`` (float32)."""
    try:
        import librosa
    except ImportError as e:  # pragma: no cover - environment dependent
        raise GenlabError("the mel filterbank needs librosa: pip install 'genlab[audio]'") from e
    fb = librosa.filters.mel(sr=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz, fmax=fmax_hz)
    return torch.from_numpy(fb).float()


class MelSpectrogram(nn.Module):
    """Mel magnitude (``power=1``) or power (``power=2``) spectrogram: ``(..., S)`` → ``(..., n_mels, T)``.

    The filterbank is computed once with librosa and kept as a buffer, so it travels with the snapshot.
    """

    def __init__(self, sample_rate_hz: int = 44100, n_fft: int = 2048, hop: int = 512, n_mels: int = 128,
                 fmin_hz: float = 0.0, fmax_hz: float | None = None, power: float = 1.0, centre: bool = True):
        super().__init__()
        self.stft = Stft(n_fft, hop, centre)
        self.power = float(power)
        self.register_buffer("filterbank", mel_filterbank(sample_rate_hz, n_fft, n_mels, fmin_hz, fmax_hz))

    def from_magnitude(self, magnitude: Tensor) -> Tensor:
        """(..., F, T) linear STFT magnitude → (..., n_mels, T)."""
        return torch.matmul(self.filterbank.to(magnitude.dtype), magnitude.pow(self.power))

    def forward(self, wave: Tensor) -> Tensor:
        return self.from_magnitude(self.stft(wave).abs())


class Compression(nn.Module):
    """Invertible magnitude compression: 'log1p' → log(1 + x/ref); 'power' → x**exponent; 'none' → x."""

    def __init__(self, kind: str = "log1p", exponent: float = 0.3, ref: float = 1e-3):
        super().__init__()
        if kind not in COMPRESSIONS:
            raise GenlabError(f"unknown compression '{kind}'; expected one of {', '.join(COMPRESSIONS)}")
        self.kind, self.exponent, self.ref = kind, float(exponent), float(ref)

    def forward(self, magnitude: Tensor) -> Tensor:
        if self.kind == "log1p":
            return torch.log1p(magnitude / self.ref)
        if self.kind == "power":
            return magnitude.clamp_min(0).pow(self.exponent)
        return magnitude

    def inverse(self, compressed: Tensor) -> Tensor:
        """Back to linear magnitude (clamped at 0, since a model's output may stray below the range)."""
        if self.kind == "log1p":
            return torch.expm1(compressed).clamp_min(0) * self.ref
        if self.kind == "power":
            return compressed.clamp_min(0).pow(1.0 / self.exponent)
        return compressed.clamp_min(0)


class Normalizer(nn.Module):
    """Per-frequency standardisation of (N, C, F, T) features; mean/std are buffers fitted over a dataset.

    `update` accumulates float64 sums over all N, C, T (streaming, so a dataset need not fit in memory); `finalize`
    turns them into mean/std. Before fitting, mean=0 and std=1 (identity).
    """

    def __init__(self, num_bins: int, eps: float = 1e-5):
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(num_bins))
        self.register_buffer("std", torch.ones(num_bins))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self._sums: tuple[Tensor, Tensor] | None = None

    def update(self, feats: Tensor) -> None:
        """Add a batch (N, C, F, T) to the running sums."""
        x = feats.detach().double().transpose(-2, -1).reshape(-1, feats.shape[-2])  # (N*C*T, F)
        s1, s2 = self._sums or (torch.zeros_like(x[0]), torch.zeros_like(x[0]))
        self._sums = (s1 + x.sum(0), s2 + x.square().sum(0))
        self.count += x.shape[0]

    def finalize(self) -> None:
        """mean = Σx/n, std = sqrt(Σx²/n − mean²) (floored at eps)."""
        if self._sums is None or float(self.count) == 0:
            raise GenlabError("normalisation statistics: no data was given to fit them")
        s1, s2 = self._sums
        n = float(self.count)
        mean = s1 / n
        var = (s2 / n - mean.square()).clamp_min(0)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().clamp_min(self.eps).float())
        self._sums = None

    def fit(self, batches: Iterable[Tensor]) -> Normalizer:
        for b in batches:
            self.update(b)
        self.finalize()
        return self

    def forward(self, feats: Tensor) -> Tensor:
        return (feats - self.mean[:, None]) / self.std[:, None]

    def inverse(self, normed: Tensor) -> Tensor:
        return normed * self.std[:, None] + self.mean[:, None]


@dataclass
class SpectrogramConfig:
    """Everything that defines a spectrogram representation (goes into snapshot headers as JSON)."""

    kind: str = "stft"  # 'stft' (linear magnitude, F = n_fft//2+1) or 'mel' (F = n_mels)
    sample_rate_hz: int = 44100
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 128
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    compression: str = "log1p"  # 'log1p' | 'power' | 'none'
    exponent: float = 0.3  # for compression='power'
    log_ref: float = 1e-3  # for compression='log1p': log(1 + |X| / log_ref)
    normalise: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise GenlabError(f"spectrogram kind '{self.kind}' is unknown; expected one of {', '.join(KINDS)}")


class SpectrogramCodec(nn.Module):
    """Waveform ↔ model-space spectrogram: STFT/mel magnitude → compression → per-frequency normalisation.

    ``encode``: (N, C, S) → (N, C, F, T) features; ``decode``: features → linear magnitude (STFT or mel bins);
    ``phase``: the STFT phase of a waveform, for oracle reconstructions. The inverse to audio needs a phase strategy
    (see `genlab.audio.phase`).
    """

    def __init__(self, config: SpectrogramConfig | None = None, **overrides: Any):
        super().__init__()
        self.cfg = config or SpectrogramConfig(**overrides)
        c = self.cfg
        self.stft = Stft(c.n_fft, c.hop)
        self.mel = MelSpectrogram(c.sample_rate_hz, c.n_fft, c.hop, c.n_mels, c.fmin_hz, c.fmax_hz) \
            if c.kind == "mel" else None
        self.compress = Compression(c.compression, c.exponent, c.log_ref)
        self.norm = Normalizer(c.n_mels if c.kind == "mel" else self.stft.num_bins)

    @property
    def num_bins(self) -> int:
        return self.norm.mean.numel()

    def magnitude(self, wave: Tensor) -> Tensor:
        """(N, C, S) → linear magnitude (N, C, F, T) in the representation's bins."""
        mag = self.stft(wave).abs()
        return self.mel.from_magnitude(mag) if self.mel is not None else mag

    def encode(self, wave: Tensor) -> Tensor:
        feats = self.compress(self.magnitude(wave))
        return self.norm(feats) if self.cfg.normalise else feats

    def decode(self, feats: Tensor) -> Tensor:
        if self.cfg.normalise:
            feats = self.norm.inverse(feats)
        return self.compress.inverse(feats)

    def fit_stats(self, waves: Iterable[Tensor]) -> SpectrogramCodec:
        """Fit the normalisation statistics over (N, C, S) batches of a dataset."""
        return self._fit(self.compress(self.magnitude(w)) for w in waves)

    def _fit(self, feats: Iterable[Tensor]) -> SpectrogramCodec:
        self.norm.fit(feats)
        return self

    def check_length(self, num_samples: int) -> None:
        """GenlabError when `num_samples` cannot make one frame (centred reflect padding needs > n_fft/2)."""
        need = self.n_fft // 2 + 1 if self.centre else self.n_fft
        if num_samples < need:
            raise GenlabError(f"audio of {num_samples} samples is shorter than one STFT frame; expected at least "
                              f"{need} samples (n_fft={self.n_fft})")

    def num_frames(self, num_samples: int) -> int:
        return self.stft.num_frames(num_samples)

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor config (the statistics themselves are buffers in the state dict)."""
        return {"codec": "spectrogram", **asdict(self.cfg)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SpectrogramCodec:
        """Rebuild from `config()` output; then ``load_state_dict`` restores the fitted statistics."""
        cfg = {k: v for k, v in cfg.items() if k != "codec"}
        unknown = set(cfg) - {f.name for f in fields(SpectrogramConfig)}
        if unknown:
            raise GenlabError(f"spectrogram config: unknown field(s) {sorted(unknown)}")
        return cls(SpectrogramConfig(**cfg))


def frames_to_seconds(frames: int, hop: int, sample_rate_hz: int) -> float:
    """Duration covered by `frames` hops, in seconds."""
    return frames * hop / sample_rate_hz


def db(x: Tensor, eps: float = 1e-10) -> Tensor:
    """Power quantity in decibels: 10·log10(max(x, eps))."""
    return 10.0 * torch.log10(x.clamp_min(eps))

