"""genlab.diffusion_tools (forward process, schedules, trajectories, noise interpolation), pretrained_or_train and
the toy MUSDB writer — the helpers the notebooks call."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import genlab.api as gl
from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import ImageCodec
from genlab.errors import GenlabError
from genlab.models.registry import get_family
from genlab.utils.seeding import randn_per_sample
from tests_helpers import save_tiny_diffusion


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """An untrained tiny class-conditional diffusion model (the tools do not care whether it is trained)."""
    return gl.load(save_tiny_diffusion(tmp_path_factory.mktemp("diff") / "snapshot.safetensors"))


def test_schedule_curves_are_consistent():
    curves = gl.schedule_curves(("linear", "cosine"), num_steps=1000)
    for c in curves.values():
        ab = c["alpha_bar"]
        assert np.all(np.diff(ab) < 0) and 0 < ab[-1] < ab[0] < 1
        np.testing.assert_allclose(c["log_snr"], np.log(ab / (1 - ab)))
        np.testing.assert_allclose(np.cumprod(1 - c["beta"]), ab, rtol=1e-10)
    assert curves["linear"]["alpha_bar"][-1] == pytest.approx(4.04e-5, rel=0.01)  # DDPM's schedule ends short of 0
    assert (curves["linear"]["alpha_bar"] < 0.01).sum() > 3 * (curves["cosine"]["alpha_bar"] < 0.01).sum()


def test_forward_process_uses_one_noise_per_image_at_every_t():
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    ts = [0, 400, 999]
    xt = gl.forward_process(x0, ts, "cosine", seed=5)
    assert xt.shape == (3, 3, 1, 8, 8)
    ab = gl.schedule_curves(["cosine"])["cosine"]["alpha_bar"]
    eps = [(xt[k] - math.sqrt(ab[t]) * x0) / math.sqrt(1 - ab[t]) for k, t in enumerate(ts)]
    expected = randn_per_sample([5, 6, 7], (1, 8, 8))
    for e in eps:
        torch.testing.assert_close(e, expected, atol=2e-3, rtol=0)  # t = 0 divides by a small sigma
    with pytest.raises(GenlabError, match="outside 0..999"):
        gl.forward_process(x0, [1000])


def test_the_step_by_step_chain_has_the_closed_form_distribution():
    x0 = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    draws = x0.expand(3000, -1, -1, -1)
    ab = gl.schedule_curves(["linear"])["linear"]["alpha_bar"]
    for t in (50, 600):
        chain = gl.forward_chain(draws, t, "linear", seed=t)
        torch.testing.assert_close(chain.mean(0), math.sqrt(ab[t]) * x0[0], atol=0.08, rtol=0)
        assert chain.std(0).mean().item() == pytest.approx(math.sqrt(1 - ab[t]), rel=0.03)


def test_trajectory_records_every_step_and_ends_at_the_sample(gen):
    tr = gl.trajectory(gen, [3, 4], labels=[1, 2], sampler="dpmpp-2m", steps=4, guidance=2.0)
    assert tr.timesteps == [999, 749, 499, 249] and tr.nfe == 4
    assert tr.x.shape == tr.x0_hat.shape == (4, 2, 1, 28, 28)
    torch.testing.assert_close(tr.x[0], randn_per_sample([3, 4], (1, 28, 28)))  # x_T comes from the seeds
    ref = gen.generate_model_space([3, 4], torch.tensor([1, 2]), sampler="dpmpp-2m", steps=4, guidance=2.0)
    torch.testing.assert_close(tr.final, ref)
    torch.testing.assert_close(tr.x0_hat[-1].clamp(-1, 1), tr.final)  # the last x0 prediction is the sample


def test_noise_interpolation_ends_are_the_seeds_ddim_samples(gen):
    strip = gl.interpolate_noise(gen, 5, 9, n=4, label=7, steps=3)
    ends = gen.generate_model_space([5, 9], torch.tensor([7, 7]), sampler="ddim", steps=3)
    assert strip.shape == (4, 1, 28, 28)
    torch.testing.assert_close(strip[[0, -1]], ends, atol=1e-4, rtol=0)
    assert not torch.allclose(strip[1], strip[0])


def test_denoising_error_per_t_and_family_check(gen, tmp_path):
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    err = gl.denoising_error(gen, x0, [0, 500, 999], labels=torch.arange(4))
    assert err.shape == (3,) and np.all(err >= 0) and np.isfinite(err).all()
    ae = get_family("ae")((1, 28, 28), base_channels=4, latent_dim=2)
    other = gl.load(save_snapshot(tmp_path / "ae.safetensors", ae, ImageCodec(1, 28, 28).state()))
    with pytest.raises(GenlabError, match="needs a diffusion snapshot, got family 'ae'"):
        gl.trajectory(other, [0])


TINY_AE = ["model.base_channels=4", "model.max_channels=8", "model.latent_dim=2", "train.batch_size=8",
           "train.max_steps=1", "train.epoch_images=8", "sample.num_images=2", "data.download=false"]


@pytest.mark.slow
def test_pretrained_or_train_prefers_a_verified_snapshot_then_trains(tiny_data_dir, tmp_path, monkeypatch):
    lines = []
    run = [*TINY_AE, f"data.data_dir={tiny_data_dir}", f"run_dir={tmp_path / 'run'}"]
    first = gl.pretrained_or_train("nope", "mnist-ae", run, progress=False, log=lines.append)
    assert first == tmp_path / "run" and (first / "snapshot.safetensors").is_file()
    assert "'nope' is not in the pretrained manifest: trained preset 'mnist-ae'" in lines[-1]
    snap = first / "snapshot.safetensors"
    manifest = tmp_path / "pretrained" / "manifest.json"
    manifest.parent.mkdir()
    (manifest.parent / "ae.safetensors").write_bytes(snap.read_bytes())
    entry = {"file": "ae.safetensors", "sha256": pretrained.sha256(snap)}
    manifest.write_text(json.dumps({"tiny-ae": entry, "bad-ae": {**entry, "sha256": "0" * 64}}))
    monkeypatch.setattr(pretrained, "MANIFEST", manifest)
    assert gl.pretrained_names() == ["bad-ae", "tiny-ae"]
    assert gl.pretrained_or_train("tiny-ae", "mnist-ae", run, log=lines.append) == manifest.parent / "ae.safetensors"
    again = gl.pretrained_or_train("bad-ae", "mnist-ae", run, progress=False, log=lines.append)
    assert again == first and "does not match its sha256" in lines[-1]  # the finished run is reused


def test_toy_musdb_is_read_like_musdb(tmp_path):
    from genlab.audio.api import load_input
    from genlab.audio.io import read_wav

    root = gl.write_toy_musdb(tmp_path, n_train=1, n_test=1, seconds=0.5)
    track = root / "musdb" / "MUSDB18-7" / "test" / "Toy Band 1 - Song 1"
    assert sorted(p.name for p in track.iterdir()) == [f"{s}.wav" for s in ("bass", "drums", "mixture", "other",
                                                                            "vocals")]
    wave, mixture, name = load_input("Toy Band 1 - Song 1", "vocals", str(root))
    assert name == "Toy Band 1 - Song 1" and wave.shape == mixture.shape == (2, 22050)
    stems = sum(read_wav(track / f"{s}.wav", 44100, 2) for s in ("drums", "bass", "other", "vocals"))
    np.testing.assert_allclose(stems, mixture.numpy(), atol=3e-4)  # mixture = sum of stems (16-bit rounding)
    assert 0.05 < float(wave.abs().max()) < 0.5
