"""Spectrogram modules, chunked overlap-add and phase reconstruction on small synthetic signals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.audio.chunking import merge_chunks, plan_chunks, process_file_in_chunks, process_in_chunks, split_chunks
from genlab.audio.io import read_wav, write_wav
from genlab.audio.phase import griffin_lim, mel_to_linear, oracle_phase
from genlab.audio.transforms import Compression, MelSpectrogram, Normalizer, SpectrogramCodec, Stft
from genlab.errors import GenlabError
from genlab.metrics.audio import si_sdr, spectral_convergence

SR = 16000


def chirpy(n: int = 8000, channels: int = 2, seed: int = 0) -> torch.Tensor:
    """(1, C, n) harmonic-plus-noise test signal."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / SR
    tone = 0.4 * torch.sin(2 * torch.pi * (300 + 600 * t) * t) + 0.2 * torch.sin(2 * torch.pi * 1234 * t)
    return (tone + 0.02 * torch.randn(channels, n, generator=g))[None]


def test_stft_istft_is_identity_and_shapes():
    x = chirpy(8001)
    stft = Stft(512, 128)
    spec = stft(x)
    assert spec.shape == (1, 2, 257, stft.num_frames(8001)) and spec.is_complex()
    torch.testing.assert_close(stft.inverse(spec, 8001), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(stft.inverse_polar(spec.abs(), spec.angle(), 8001), x, atol=1e-5, rtol=0)
    with pytest.raises(GenlabError, match="hop"):
        Stft(512, 0)


def test_mel_shape_and_filterbank_buffer():
    mel = MelSpectrogram(SR, 512, 128, n_mels=40)
    out = mel(chirpy())
    assert out.shape == (1, 2, 40, Stft(512, 128).num_frames(8000)) and (out >= 0).all()
    assert "filterbank" in mel.state_dict() and mel.filterbank.shape == (40, 257)


@pytest.mark.parametrize("kind", ["log1p", "power", "none"])
def test_compression_inverts(kind):
    m = torch.rand(3, 5) * 4
    comp = Compression(kind)
    torch.testing.assert_close(comp.inverse(comp(m)), m, atol=1e-5, rtol=1e-4)


def test_normalizer_matches_direct_statistics():
    feats = [torch.randn(2, 2, 6, 9) * torch.arange(1, 7)[:, None] + 3 for _ in range(3)]
    norm = Normalizer(6).fit(feats)
    flat = torch.cat([f.transpose(-2, -1).reshape(-1, 6) for f in feats])
    torch.testing.assert_close(norm.mean, flat.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.std, flat.std(0, unbiased=False), atol=1e-5, rtol=1e-5)
    z = norm(feats[0])
    torch.testing.assert_close(norm.inverse(z), feats[0], atol=1e-5, rtol=0)
    with pytest.raises(GenlabError, match="no data"):
        Normalizer(3).finalize()


@pytest.mark.parametrize("kind", ["stft", "mel"])
def test_codec_statistics_travel_in_state_dict_and_config(kind):
    codec = SpectrogramCodec(kind=kind, sample_rate_hz=SR, n_fft=512, hop=128, n_mels=32)
    codec.fit_stats([chirpy(seed=s) for s in range(2)])
    header = json.loads(json.dumps(codec.config()))
    rebuilt = SpectrogramCodec.from_config(header)
    rebuilt.load_state_dict(codec.state_dict())
    x = chirpy(seed=5)
    feats = codec.encode(x)
    assert feats.shape[-2] == (32 if kind == "mel" else 257)
    torch.testing.assert_close(rebuilt.encode(x), feats)
    assert abs(float(feats.mean())) < 0.5 and 0.5 < float(feats.std()) < 2.0  # roughly standardised
    torch.testing.assert_close(codec.decode(feats), codec.magnitude(x), atol=1e-4, rtol=1e-3)
    with pytest.raises(GenlabError, match="unknown field"):
        SpectrogramCodec.from_config({**header, "n_fftt": 3})


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3000), chunk=st.integers(2, 700), frac=st.floats(0.0, 0.9))
def test_split_merge_is_identity(n, chunk, frac):
    plan = plan_chunks(n, chunk, int(frac * chunk))
    x = torch.randn(2, n, dtype=torch.float64)
    chunks = split_chunks(x, plan)
    assert chunks.shape == (len(plan.starts), 2, chunk)
    torch.testing.assert_close(merge_chunks(chunks, plan), x)


def test_windows_sum_to_one_and_processing_is_seamless():
    plan = plan_chunks(1000, 300, 100)
    total = torch.zeros(plan.starts[-1] + plan.chunk)
    for k, s in enumerate(plan.starts):
        total[s: s + plan.chunk] += plan.window(k)
    torch.testing.assert_close(total[:1000], torch.ones(1000))
    x = torch.randn(2, 1000)
    torch.testing.assert_close(process_in_chunks(x, lambda c: 0.5 * c, 300, 100, batch_size=2), 0.5 * x)
    with pytest.raises(GenlabError, match="overlap"):
        plan_chunks(1000, 300, 300)


def test_file_streaming_matches_in_memory(tmp_path):
    x = chirpy(5003)[0].numpy()
    src = write_wav(tmp_path / "in.wav", x, SR, "FLOAT")
    out = process_file_in_chunks(src, tmp_path / "out.wav", lambda c: -c, chunk_s=0.05, overlap_s=0.01)
    np.testing.assert_allclose(read_wav(out, None, None), -x, atol=1e-6)


def test_griffin_lim_improves_with_iterations_and_momentum_helps():
    x = chirpy(6000, channels=1)
    stft = Stft(512, 128)
    mag = stft(x).abs()

    def sc(n_iter, momentum):
        y = griffin_lim(mag, stft, n_iter, momentum, length=6000, generator=torch.Generator().manual_seed(0))
        return float(spectral_convergence(x, y, 512, 128))

    few, many = sc(4, 0.99), sc(64, 0.99)
    assert many < 0.7 * few, (few, many)
    assert sc(32, 0.99) < sc(32, 0.0)
    curve = []
    griffin_lim(mag, stft, 3, length=6000, callback=lambda i, w: curve.append((i, w.shape)))
    assert curve == [(0, (1, 1, 6000)), (1, (1, 1, 6000)), (2, (1, 1, 6000))]
    with pytest.raises(GenlabError, match="bins"):
        griffin_lim(mag[..., :-1, :], stft)


def test_oracle_phase_is_near_perfect():
    x = chirpy(6000)
    stft = Stft(512, 128)
    y = oracle_phase(stft(x).abs(), x, stft)
    assert float(si_sdr(x, y).min()) > 60.0


def test_mel_inversion_nonnegative_and_nnls_fits_better_than_pinv():
    mel = MelSpectrogram(SR, 512, 128, n_mels=40)
    x = chirpy(4000)
    m = mel(x)
    fb = mel.filterbank
    lin_nnls, lin_pinv = mel_to_linear(m, fb, "nnls", 200), mel_to_linear(m, fb, "pinv")
    assert lin_nnls.shape == (1, 2, 257, m.shape[-1]) and (lin_nnls >= 0).all() and (lin_pinv >= 0).all()

    def err(lin):
        return float(torch.linalg.vector_norm(fb @ lin - m) / torch.linalg.vector_norm(m))

    assert err(lin_nnls) < err(lin_pinv) and err(lin_nnls) < 0.05
    with pytest.raises(GenlabError, match="'lsq'"):
        mel_to_linear(m, fb, "lsq")


def test_nnls_updates_in_place_without_gradients_and_out_of_place_with_them():
    """nnls_multiplicative gives the same numbers under no_grad (in-place updates, the vocoder's inference path)
    and with autograd on (out of place), where the gradient still reaches the mel."""
    from genlab.audio.phase import nnls_multiplicative
    from genlab.audio.transforms import mel_filterbank

    fb = mel_filterbank(44100, 256, 16)
    gen = torch.Generator().manual_seed(0)
    mel = torch.rand(2, 16, 9, generator=gen) + 0.1
    start = torch.rand(2, 129, 9, generator=gen) + 0.1
    with torch.no_grad():
        fast = nnls_multiplicative(mel, fb, start.clone(), 5, 1e-10)
    mel_g = mel.clone().requires_grad_(True)
    slow = nnls_multiplicative(mel_g, fb, start.clone(), 5, 1e-10)
    assert torch.equal(fast, slow.detach())
    slow.sum().backward()
    assert mel_g.grad is not None and torch.isfinite(mel_g.grad).all() and mel_g.grad.abs().sum() > 0
    # the updates lower the least-squares error from the start
    def err(x):
        return (torch.matmul(fb, x) - mel).square().sum()

    assert err(fast) < err(start)
