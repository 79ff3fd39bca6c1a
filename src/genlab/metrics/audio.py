"""Audio quality metrics: waveform (SI-SDR, SNR, museval SDR) and spectral (LSD, spectral convergence,
multi-resolution STFT, mel distance) comparisons of a reference and an estimate.

Signals are torch tensors ``(..., S)`` (any leading dims, e.g. channels); functions return one value per leading
index (``(...)``), and `compare_audio` averages channels into a flat dict of floats. Conventions: higher is better
for the ratios in dB (SI-SDR, SNR, SDR), lower is better for the distances. On identical signals the ratios are +inf
and the distances 0; against a silent reference the ratios are NaN (undefined), and table medians skip NaNs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio, signal_noise_ratio

from genlab.audio.transforms import MelSpectrogram, Stft
from genlab.models.vocoder.losses import MultiResolutionStftDistance

SPEC_EPS = 1e-10  # power floor (−100 dB) for log-spectral quantities
MR_FFT_SIZES = (512, 1024, 2048)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))


def _energy(x: Tensor) -> Tensor:
    return x.double().square().sum(-1)


def _edge_cases(value: Tensor, reference: Tensor, error: Tensor) -> Tensor:
    """torchmetrics adds a tiny eps to both energies (identical signals give ~+150 dB, a silent reference a finite
    number); genlab's convention is +inf for a perfect estimate and NaN (undefined, skipped by table medians)
    against a silent reference."""
    value = value.masked_fill(_energy(error) == 0, math.inf)
    return value.masked_fill(_energy(reference) == 0, math.nan)


def si_sdr(reference: Tensor, estimate: Tensor, zero_mean: bool = True) -> Tensor:
    """Scale-invariant SDR in dB (Le Roux, Wisdom, Erdogan & Hershey 2019, eqs. 1–2): torchmetrics'
    `scale_invariant_signal_distortion_ratio` in float64, signals made zero-mean first.

    ``α = ⟨ŝ, s⟩ / ‖s‖²``; ``SI-SDR = 10 log10(‖α s‖² / ‖α s − ŝ‖²)``.
    """
    s, s_hat = reference.double(), estimate.double()
    if zero_mean:
        s, s_hat = s - s.mean(-1, keepdim=True), s_hat - s_hat.mean(-1, keepdim=True)
    value = scale_invariant_signal_distortion_ratio(s_hat, s, zero_mean=False)
    alpha = (s_hat * s).sum(-1, keepdim=True) / _energy(s).unsqueeze(-1).clamp_min(1e-300)
    return _edge_cases(value, s, alpha * s - s_hat)


def snr(reference: Tensor, estimate: Tensor) -> Tensor:
    """Signal-to-noise ratio in dB: ``10 log10(‖s‖² / ‖s − ŝ‖²)`` (not scale-invariant); torchmetrics'
    `signal_noise_ratio` in float64."""
    s, s_hat = reference.double(), estimate.double()
    return _edge_cases(signal_noise_ratio(s_hat, s, zero_mean=False), s, s - s_hat)


@lru_cache(maxsize=8)
def _stft(n_fft: int, hop: int) -> Stft:
    return Stft(n_fft, hop)


def _magnitudes(reference: Tensor, estimate: Tensor, n_fft: int, hop: int) -> tuple[Tensor, Tensor]:
    stft = _stft(n_fft, hop).to(reference.device)
    return stft(reference).abs(), stft(estimate).abs()


def log_spectral_distance(reference: Tensor, estimate: Tensor, n_fft: int = 2048, hop: int = 512) -> Tensor:
    """LSD in dB: per frame ``sqrt(mean_f (10 log10 |S|² − 10 log10 |Ŝ|²)²)``, averaged over frames."""
    ref, est = _magnitudes(reference, estimate, n_fft, hop)
    diff = 10.0 * (torch.log10(ref.square().clamp_min(SPEC_EPS)) - torch.log10(est.square().clamp_min(SPEC_EPS)))
    return diff.square().mean(-2).sqrt().mean(-1)


def spectral_convergence(reference: Tensor, estimate: Tensor, n_fft: int = 2048, hop: int = 512) -> Tensor:
    """``‖ |S| − |Ŝ| ‖_F / ‖ |S| ‖_F`` over the (F, T) magnitude (Sturmel & Daudet 2011; Arık et al. 2019)."""
    ref, est = _magnitudes(reference, estimate, n_fft, hop)
    return torch.linalg.vector_norm(ref - est, dim=(-2, -1)) / torch.linalg.vector_norm(ref, dim=(-2, -1))


@lru_cache(maxsize=4)
def _mel(sample_rate_hz: int, n_fft: int, hop: int, n_mels: int) -> MelSpectrogram:
    return MelSpectrogram(sample_rate_hz, n_fft, hop, n_mels)


def mel_distance(reference: Tensor, estimate: Tensor, sample_rate_hz: int = 44100, n_fft: int = 2048,
                 hop: int = 512, n_mels: int = 128, eps: float = 1e-5) -> Tensor:
    """Mean |ln max(M|S|, eps) − ln max(M|Ŝ|, eps)| over mel bins and frames (the HiFi-GAN mel loss, Kong 2020)."""
    mel = _mel(sample_rate_hz, n_fft, hop, n_mels).to(reference.device)
    ref, est = mel(reference), mel(estimate)
    return (ref.clamp_min(eps).log() - est.clamp_min(eps).log()).abs().mean((-2, -1))


_MR_STFT = MultiResolutionStftDistance()


def museval_sdr(reference: Any, estimate: Any, sample_rate_hz: int = 44100) -> float:
    """BSS Eval v4 SDR (museval; Stöter, Liutkus & Ito 2018) of one (C, S) source: median over 1-s windows, in dB.

    This is the SiSEC 2018 / MUSDB18 convention (window = hop = 1 s, NaN windows — silent references — skipped).
    """
    import museval

    ref = np.asarray(_as_tensor(reference).detach().cpu(), dtype=np.float64).T[None]  # (1, S, C)
    est = np.asarray(_as_tensor(estimate).detach().cpu(), dtype=np.float64).T[None]
    sdr, _, _, _ = museval.evaluate(ref, est, win=sample_rate_hz, hop=sample_rate_hz)
    values = sdr[0][np.isfinite(sdr[0])]
    return float(np.median(values)) if values.size else float("nan")


def compare_audio(reference: Any, estimate: Any, sample_rate_hz: int = 44100, with_museval: bool = False
                  ) -> dict[str, float]:
    """All metrics for one (C, S) pair (NumPy or torch), channel-averaged; keys carry units (``_db``)."""
    ref, est = _as_tensor(reference).float(), _as_tensor(estimate).float()
    if ref.shape != est.shape:
        n = min(ref.shape[-1], est.shape[-1])
        ref, est = ref[..., :n], est[..., :n]
    with torch.no_grad():
        out = {
            "si_sdr_db": si_sdr(ref, est).mean(),
            "snr_db": snr(ref, est).mean(),
            "lsd_db": log_spectral_distance(ref, est).mean(),
            "spectral_convergence": spectral_convergence(ref, est).mean(),
            "mr_stft": _MR_STFT.to(ref.device)(ref, est).mean(),
            "mel_distance": mel_distance(ref, est, sample_rate_hz).mean(),
        }
    result = {k: float(v) for k, v in out.items()}
    if with_museval:
        result["sdr_museval_db"] = museval_sdr(ref, est, sample_rate_hz)
    return result


class MetricTable:
    """Per-track, per-stem, per-method metric rows with median summaries (update / compute, like a metric)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def update(self, track: str, stem: str, method: str, metrics: dict[str, float]) -> None:
        self.rows.append({"track": track, "stem": stem, "method": method, **metrics})

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.rows:
            names.update({k: None for k in r if k not in ("track", "stem", "method")})
        return list(names)

    def compute(self, by: Sequence[str] = ("stem", "method")) -> list[dict[str, Any]]:
        """Median of each metric per group (NaNs skipped; ``n`` = rows in the group), groups in first-seen order."""
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows:
            groups[tuple(r[k] for k in by)].append(r)
        out = []
        for key, rows in groups.items():
            summary: dict[str, Any] = dict(zip(by, key)) | {"n": len(rows)}
            for m in self.metric_names():
                vals = np.array([r.get(m, math.nan) for r in rows], dtype=np.float64)
                summary[m] = float(np.median(vals[~np.isnan(vals)])) if (~np.isnan(vals)).any() else math.nan
            out.append(summary)
        return out

    def summary(self, by: Sequence[str] = ("stem", "method"), metrics: Sequence[str] | None = None
                ) -> list[dict[str, Any]]:
        """Per group: ``n`` rows and, for each metric, ``median``, ``q25``, ``q75`` (interquartile range = q75 − q25)
        and ``n_finite`` (NaN/±inf values — an exact match's +inf SI-SDR, a silent reference's NaN — are counted
        apart: the quantiles are over the finite values, and ``n_inf`` says how many were +inf)."""
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows:
            groups[tuple(r[k] for k in by)].append(r)
        out = []
        for key, rows in groups.items():
            entry: dict[str, Any] = dict(zip(by, key)) | {"n": len(rows)}
            for m in metrics or self.metric_names():
                vals = np.array([_float(r.get(m)) for r in rows], dtype=np.float64)
                fin = vals[np.isfinite(vals)]
                q25, med, q75 = (np.quantile(fin, (0.25, 0.5, 0.75)).tolist() if fin.size else [math.nan] * 3)
                entry[m] = {"median": med, "q25": q25, "q75": q75, "n_finite": int(fin.size),
                            "n_inf": int(np.isposinf(vals).sum())}
            out.append(entry)
        return out

    def to_markdown(self, by: Sequence[str] = ("stem", "method"), digits: int = 3) -> str:
        """Median table as GitHub markdown."""
        rows = self.compute(by)
        cols = [*by, "n", *self.metric_names()]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in rows:
            cells = [f"{r[c]:.{digits}f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self, by: Sequence[str] = ("stem", "method")) -> str:
        """Rows and medians as JSON (non-finite values become null)."""
        rows, medians = [_finite(r) for r in self.rows], [_finite(r) for r in self.compute(by)]
        return json.dumps({"rows": rows, "medians": medians}, indent=1)


def _float(v: Any) -> float:
    """A row value as a float: None (a non-finite value after a JSON round trip) → NaN."""
    return math.nan if v is None else float(v)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """Non-finite floats → None, so the row is strict JSON."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in row.items()}
