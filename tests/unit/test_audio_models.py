"""spectral-ae and vocos families, the MUSDB stem datasets and their codecs — tiny synthetic data only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from genlab.audio.dataset import SpectrogramPatchCodec, StemSegments, WaveformCodec
from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import codec_from_state
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.models.registry import get_family
from tests_helpers import fit_generator

SR = 44100
VOC_TINY = {"n_fft": 256, "hop": 64, "n_mels": 16, "dim": 16, "hidden": 32, "num_blocks": 1, "periods": [2, 3],
            "disc_channels": 4, "stft_sizes": [64, 128]}
VOC_SHAPE = (1, 1, 1024)


def tone(n: int, hz: float = 440.0, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * hz * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def vocos(**kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: empty mel filters at tiny n_fft
        return get_family("vocos")(image_shape=VOC_SHAPE, **(VOC_TINY | kw))


# --- datasets and codecs ------------------------------------------------------------------------------------------
def test_stem_segments_drop_silence_and_batch_waveforms():
    loud, silent = tone(4000), np.zeros(4000, np.float32)
    ds = StemSegments("t", [loud, silent], segment_samples=1000, stride=500, n_fft=256, hop=64)
    assert len(ds) == 7  # only the loud signal's 7 half-overlapping segments
    x, y = ds.get_batch([0, 6])
    assert x.shape == (2, 1, 1000) and y is None
    assert torch.equal(x[1, 0], torch.from_numpy(loud[3000:4000]))
    assert ds.image_shape == (1, 128, 1000 // 64 + 1)
    with pytest.raises(GenlabError, match="no non-silent"):
        StemSegments("t", [silent], 1000, 500)


def test_spectrogram_codec_round_trip_and_state():
    wave = torch.from_numpy(np.stack([tone(2048, 440), tone(2048, 880, seed=1)]))[:, None]  # (2, 1, S)
    clipped = SpectrogramPatchCodec(256, 64).fit([wave]).encode(wave)
    assert clipped.shape == (2, 1, 128, 2048 // 64 + 1) and clipped.abs().max() <= 1
    codec = SpectrogramPatchCodec(256, 64, scale=50.0).fit([wave])  # wide enough that nothing is clipped
    x = codec.encode(wave)
    assert x.abs().max() < 1 and abs(float(x.mean())) < 0.01  # standardised per frequency
    mag = codec.decode(x)
    ref = codec.magnitude(wave)
    assert mag.shape == ref.shape and torch.allclose(mag, ref, rtol=1e-3, atol=1e-4)
    rebuilt = codec_from_state(codec.state())
    assert torch.allclose(rebuilt.encode(wave), x, atol=1e-5)
    assert codec.to_display(x).dtype == torch.uint8


def test_waveform_codec_display_is_an_image():
    codec = WaveformCodec()
    x = codec.encode(torch.from_numpy(tone(2048))[None, None])
    assert x.shape == (1, 1, 1, 2048) and torch.equal(codec.decode(x), x.squeeze(-2))
    img = codec.to_display(x)
    assert img.dtype == torch.uint8 and img.ndim == 4 and img.shape[1] == 1
    assert isinstance(codec_from_state(codec.state()), WaveformCodec)


# --- spectral-ae --------------------------------------------------------------------------------------------------
def test_spectral_ae_is_fully_convolutional_in_time():
    model = get_family("spectral-ae")(image_shape=(1, 32, 8), hidden=16, num_blocks=1, code_dim=4).eval()
    x = torch.rand(2, 1, 32, 50) * 2 - 1
    assert model.reconstruct(x).shape == x.shape
    assert model.encode(x)[0].shape == (2, 4, 50)
    assert model.generate([0, 1], frames=20).shape == (2, 1, 32, 20)


def test_spectral_ae_learns_a_patch_set():
    torch.manual_seed(0)
    model = get_family("spectral-ae")(image_shape=(1, 16, 8), hidden=16, num_blocks=1, code_dim=8)
    x = torch.tanh(torch.randn(8, 1, 16, 1).repeat(1, 1, 1, 8))  # 8 stationary "spectra"
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(40):
        loss, logs = model("model", x, None)
        first = first if first is not None else float(logs["l1"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(logs["l1"]) < 0.6 * first


def test_spectral_ae_rejects_bad_options():
    with pytest.raises(GenlabError, match="time_kernel"):
        get_family("spectral-ae")(image_shape=(1, 16, 8), time_kernel=4)


# --- vocos: the family contract on waveforms (the shared contract skips it) -----------------------------------------
def test_vocos_contract(tmp_path):
    model = vocos(disc_start_step=0)
    x = torch.from_numpy(np.stack([tone(1024, 300 + 100 * i, seed=i) for i in range(3)]))[:, None, None]
    groups = {k: list(v) for k, v in model.param_groups().items()}
    assert model.phases(0) == ["discriminator", "generator"]
    for phase in model.phases(0):
        model.zero_grad(set_to_none=True)
        loss, logs = model(phase, x, None)
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[phase])
    model.eval()
    out = model.generate([1, 2, 3])
    assert out.shape == (3, *VOC_SHAPE) and out.abs().max() <= 1
    assert torch.allclose(model.generate([3])[0], out[2], atol=1e-5)
    path = save_snapshot(tmp_path / "v.safetensors", model, WaveformCodec().state())
    loaded = load_snapshot(path, family="vocos").model
    assert torch.equal(loaded.generate([1, 2, 3]), out)


def test_vocos_warm_start_phases_and_lengths():
    model = vocos(disc_start_step=5)
    assert model.phases(0) == ["generator"] and model.phases(5) == ["discriminator", "generator"]
    mel = model.log_mel(torch.from_numpy(tone(1024))[None])
    assert mel.shape == (1, 16, 1024 // 64 + 1)
    assert model.vocode(mel).shape == (1, 1024)


def test_vocos_rejects_images_and_labels():
    with pytest.raises(GenlabError, match="image_shape"):
        get_family("vocos")(image_shape=(1, 16, 16))
    with pytest.raises(GenlabError, match="class labels"):
        get_family("vocos")(image_shape=VOC_SHAPE, num_classes=3, **VOC_TINY)


def test_vocos_reconstruction_loss_decreases():
    model = vocos(disc_start_step=10_000)  # generator only: MR-STFT + mel
    x = torch.from_numpy(tone(1024, 500))[None, None, None]
    opt = torch.optim.Adam(model.param_groups()["generator"], 3e-3)
    losses = []
    for _ in range(25):
        loss, _ = model("generator", x, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_accumulated_phase_is_the_stft_phase_of_a_partial():
    """With δ = (ω − ω_k)·hop per frame, the propagated phase is the STFT's own phase in the partial's main lobe
    (π k + ω·hop·t), over thousands of frames (the carrier is reduced mod 2π in integers)."""
    from genlab.models.vocoder.networks import VocosGenerator

    gen = VocosGenerator(n_mels=8, n_fft=256, hop=64, dim=8, hidden=8, num_blocks=1, phase_mode="accumulated")
    hz = 1000.0
    n = 64 * 4000
    x = torch.cos(2 * torch.pi * hz / SR * torch.arange(n, dtype=torch.float64))
    spec = gen.stft(x)  # (F, T)
    k0 = round(hz / SR * 256)
    k = torch.arange(129, dtype=torch.float64)[:, None]
    delta = (2 * torch.pi * (hz / SR - k / 256) * 64).expand(129, spec.shape[-1])[None]  # ω·hop − ω_k·hop
    phase = gen._accumulate(delta)[0]
    err = torch.angle(spec[k0 - 1: k0 + 2, 2:-2] * torch.exp(-1j * phase[k0 - 1: k0 + 2, 2:-2]))
    assert err.abs().max() < 1e-3


@pytest.mark.slow
def test_vocoder_reproduces_its_own_mel_after_a_short_overfit():
    """mel(vocoder(mel(x))) ≈ mel(x) on a sustained tone. Vocos' absolute-phase head cannot: a shift-equivariant
    net repeats the same angle on identical frames, while a 300-Hz partial must advance ω·hop per frame."""
    x = torch.from_numpy(0.3 * np.sin(2 * np.pi * 300.0 * np.arange(4096) / SR).astype(np.float32))[None, None, None]

    def overfit(mode: str) -> float:
        torch.manual_seed(0)
        model = vocos(disc_start_step=-1, phase_mode=mode, dim=16, hidden=32, stft_sizes=[64, 128, 256])
        fit_generator(model, x, 150)
        with torch.no_grad():
            wave = x.reshape(1, -1)
            return float((model.log_mel(model.vocode(model.log_mel(wave))) - model.log_mel(wave)).abs().mean())

    accumulated, absolute = overfit("accumulated"), overfit("absolute")
    assert accumulated < 0.35 and accumulated < 0.4 * absolute


def test_vocos_gan_off_and_bad_phase_mode():
    model = vocos(disc_start_step=-1)
    assert model.phases(0) == ["generator"] and model.phases(10**6) == ["generator"]
    loss, logs = model("generator", torch.from_numpy(tone(1024))[None, None, None], None)
    assert "g_adv" not in logs and torch.isfinite(loss)
    with pytest.raises(GenlabError, match="phase_mode"):
        vocos(phase_mode="magic")


def test_mel_prior_starts_from_the_mel_envelope():
    """band_spread returns a flat spectrum exactly wherever a filter covers the bin, and an untrained generator with
    the prior predicts that envelope (the residual head starts at zero)."""
    from genlab.models.vocoder.networks import band_spread

    model = vocos(mel_prior=True, phase_mode="accumulated")
    fb = model.mel.filterbank
    covered = fb.sum(0) > 1e-6  # (a bin at the very edge of a band gets a vanishing weight)
    flat = torch.ones(fb.shape[1], 1)
    assert torch.allclose((band_spread(fb) @ (fb @ flat))[covered], flat[covered], atol=1e-5)
    wave = torch.from_numpy(tone(1024))[None]
    with torch.no_grad():
        log_mel = model.log_mel(wave)
        envelope = (band_spread(fb) @ log_mel.exp()).clamp_min(1e-5)
        assert torch.allclose(model.magnitude(log_mel), envelope, rtol=1e-4)
        spec = model.generator.spectrum(log_mel)
    assert torch.allclose(spec.abs(), envelope, rtol=1e-4)


def test_instantaneous_frequency_loss_is_blind_to_wraps_and_offsets():
    from genlab.models.vocoder.model import instantaneous_frequency_loss

    torch.manual_seed(0)
    x = torch.from_numpy(tone(4096, 700))[None]
    spec = torch.stft(x, 256, 64, window=torch.hann_window(256), return_complex=True)
    true_phase = torch.angle(spec)
    shifted = true_phase + 2 * torch.pi * torch.randint(-3, 4, true_phase.shape) + torch.rand(1, 129, 1) * 6
    assert float(instantaneous_frequency_loss(true_phase, spec)) < 1e-4
    assert float(instantaneous_frequency_loss(shifted, spec)) < 1e-4  # a constant offset per bin, wraps: no error
    assert float(instantaneous_frequency_loss(torch.rand_like(true_phase) * 6.28, spec)) > 0.5


def test_vocos_supervised_magnitude_and_phase_losses():
    model = vocos(disc_start_step=-1, phase_mode="accumulated", mel_prior=True, prior_nnls_iters=3, lambda_mag=1.0,
                  lambda_phase=1.0)
    loss, logs = model("generator", torch.from_numpy(tone(1024))[None, None, None], None)
    assert {"mag_log_l1", "mag_sc", "phase_if"} <= set(logs) and torch.isfinite(loss)
    loss.backward()
    assert model.generator.head.weight.grad.abs().sum() > 0
