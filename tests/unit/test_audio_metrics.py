"""Audio metrics on constructed signals with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genlab.metrics.audio import (
    MetricTable,
    MultiResolutionStftDistance,
    compare_audio,
    log_spectral_distance,
    mel_distance,
    museval_sdr,
    si_sdr,
    snr,
    spectral_convergence,
)

SR = 16000


def tone(n: int = 16000, freq: float = 250.0, phase: float = 0.0) -> torch.Tensor:
    """(2, n) sine with an integer number of periods (zero mean over the signal)."""
    t = torch.arange(n, dtype=torch.float64) / SR
    return torch.sin(2 * torch.pi * freq * t + phase).repeat(2, 1)


def test_si_sdr_and_snr_known_value_on_orthogonal_noise():
    s = tone()
    noise = tone(phase=torch.pi / 2)  # cosine: orthogonal to the sine, same energy
    est = s + noise * math.sqrt(0.1)  # ‖n‖² = ‖s‖² / 10 → 10 dB
    torch.testing.assert_close(si_sdr(s, est), torch.full((2,), 10.0, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(snr(s, est), torch.full((2,), 10.0, dtype=torch.float64), atol=1e-6, rtol=0)


def test_si_sdr_is_scale_invariant_but_snr_is_not():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 4000, generator=g)
    est = s + 0.3 * torch.randn(2, 4000, generator=g)
    torch.testing.assert_close(si_sdr(s, 0.25 * est), si_sdr(s, est))
    torch.testing.assert_close(si_sdr(s, 7.0 * est), si_sdr(s, est))
    assert float(snr(s, 0.25 * est).mean()) < float(snr(s, est).mean()) - 3.0


def test_identical_signals_give_infinite_ratios_and_zero_distances():
    x = tone(8000) + 0.01 * torch.randn(2, 8000, dtype=torch.float64)
    x = x.float()
    assert torch.isinf(si_sdr(x, x)).all() and torch.isinf(snr(x, x)).all()
    for d in (log_spectral_distance(x, x), spectral_convergence(x, x), mel_distance(x, x, SR, 512, 128, 40),
              MultiResolutionStftDistance()(x, x)):
        assert torch.allclose(d, torch.zeros_like(d), atol=1e-6), d


def test_silent_reference_is_undefined_not_a_crash():
    zero = torch.zeros(2, 1000)
    assert torch.isnan(si_sdr(zero, torch.randn(2, 1000))).all()


def test_distances_grow_with_distortion():
    x = tone(8000).float()
    g = torch.Generator().manual_seed(1)
    small, big = x + 0.01 * torch.randn(x.shape, generator=g), x + 0.3 * torch.randn(x.shape, generator=g)
    for fn in (log_spectral_distance, spectral_convergence):
        assert float(fn(x, small, 512, 128).mean()) < float(fn(x, big, 512, 128).mean())
    mr = MultiResolutionStftDistance()
    assert float(mr(x, small).mean()) < float(mr(x, big).mean())
    # LSD is in dB: a gain of 2 is 20·log10(2) ≈ 6.02 dB in every bin (white noise: no bin below the power floor)
    w = torch.randn(2, 8000, generator=g)
    assert abs(float(log_spectral_distance(w, 2 * w, 512, 128).mean()) - 6.0206) < 1e-3


def test_mr_stft_is_differentiable():
    x = tone(4000).float()
    est = (0.5 * x).requires_grad_(True)
    MultiResolutionStftDistance()(x, est).sum().backward()
    assert est.grad is not None and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_compare_audio_keys_and_museval_sdr_on_numpy():
    x = tone(8000).float().numpy()
    est = x + 0.05 * np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    out = compare_audio(x, est, SR)
    assert set(out) == {"si_sdr_db", "snr_db", "lsd_db", "spectral_convergence", "mr_stft", "mel_distance"}
    assert all(isinstance(v, float) for v in out.values())
    assert 15 < out["si_sdr_db"] < 30
    sdr = museval_sdr(x, est, SR)
    assert abs(sdr - out["snr_db"]) < 3.0  # bss_eval v4 allows a short distortion filter, so SDR ≥ about the SNR


def test_metric_table_medians_skip_nan_and_export():
    table = MetricTable()
    for i, v in enumerate([1.0, 2.0, 10.0]):
        table.update(f"t{i}", "vocals", "gl32", {"si_sdr_db": v, "lsd_db": float("nan") if i == 0 else v})
    table.update("t0", "vocals", "oracle", {"si_sdr_db": float("inf"), "lsd_db": 0.0})
    med = {r["method"]: r for r in table.compute()}
    assert med["gl32"]["si_sdr_db"] == 2.0 and med["gl32"]["lsd_db"] == 6.0 and med["gl32"]["n"] == 3
    assert med["oracle"]["si_sdr_db"] == float("inf")
    md = table.to_markdown()
    assert md.splitlines()[0].startswith("| stem | method | n | si_sdr_db | lsd_db") and "2.000" in md
    data = json.loads(table.to_json())
    assert len(data["rows"]) == 4 and data["medians"][1]["si_sdr_db"] is None


@pytest.mark.parametrize("by", [("track",), ("stem", "method")])
def test_metric_table_groupings(by):
    table = MetricTable()
    table.update("a", "bass", "m", {"x": 1.0})
    table.update("b", "bass", "m", {"x": 3.0})
    assert len(table.compute(by)) == (2 if by == ("track",) else 1)
