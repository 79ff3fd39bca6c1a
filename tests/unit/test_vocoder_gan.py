"""The vocos family's adversarial recipe (issue 17): MPD + MRD discriminators, the sub-batch they judge, a training
step that moves both players, the gated phase head, the universal (all-stem) dataset, resume, and one-line errors.
Tiny synthetic data only, CPU."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import genlab.api as gl
from genlab.audio.dataset import load_musdb_segments
from genlab.config.presets import resolve
from genlab.errors import GenlabError
from genlab.models.registry import get_family
from genlab.models.vocoder.networks import CombinedDiscriminator, MultiResolutionDiscriminator, VocosGenerator

SR = 44100
TINY = {"n_fft": 256, "hop": 64, "n_mels": 16, "dim": 16, "hidden": 32, "num_blocks": 1, "periods": [2, 3],
        "disc_channels": 4, "stft_sizes": [64, 128], "mrd_fft_sizes": [64, 128], "mrd_channels": 4,
        "disc_start_step": 0}
SHAPE = (1, 1, 1024)


def vocos(**kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: empty mel filters at tiny n_fft
        return get_family("vocos")(image_shape=SHAPE, **(TINY | kw))


def tones(n: int = 4, length: int = 1024) -> torch.Tensor:
    t = torch.arange(length) / SR
    rng = torch.Generator().manual_seed(0)
    waves = [0.3 * torch.sin(2 * torch.pi * (200 + 150 * i) * t) + 0.01 * torch.randn(length, generator=rng)
             for i in range(n)]
    return torch.stack(waves)[:, None, None]  # (N, 1, 1, S)


def test_mrd_judges_each_resolution_with_feature_maps():
    mrd = MultiResolutionDiscriminator((64, 128, 256), channels=4)
    out = mrd(torch.randn(3, 2048))
    assert len(out) == 3
    for logits, feats in out:
        assert logits.shape[0] == 3 and logits.ndim == 2 and torch.isfinite(logits).all()
        assert len(feats) == 5 and feats[-1].shape[1] == 1  # 3 strided convs + (3, 3) conv + output map
    both = CombinedDiscriminator((2, 3, 5), (64, 128), channels=4, mrd_channels=4)
    assert len(both(torch.randn(2, 2048))) == 5  # periods then resolutions, one list


def test_discriminators_see_only_disc_batch_segments():
    model = vocos(disc_batch=2)
    seen = []
    model.discriminator.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    x = tones(4)
    model.phases(0)
    for phase in ("discriminator", "generator"):
        loss, logs = model(phase, x, None)
        assert torch.isfinite(loss)
    assert seen == [2, 2, 2, 2]  # D phase: real + fake; G phase: fake + real (feature-matching targets)
    assert {"g_adv", "fm", "mel_l1", "mr_stft"} <= set(logs)


def test_a_training_step_moves_both_generator_and_discriminator():
    model = vocos(disc_batch=2)
    groups = {k: list(v) for k, v in model.param_groups().items()}
    opts = {k: torch.optim.Adam(v, lr=1e-3) for k, v in groups.items()}
    before = {k: [p.detach().clone() for p in v] for k, v in groups.items()}
    x = tones(4)
    assert model.phases(0) == ["discriminator", "generator"]
    for phase in model.phases(0):
        model.zero_grad(set_to_none=True)
        loss, _ = model(phase, x, None)
        loss.backward()
        opts[phase].step()
    for name, params in groups.items():
        moved = sum(not torch.equal(a, b) for a, b in zip(before[name], params))
        assert moved > len(params) // 2, f"{name}: only {moved}/{len(params)} tensors changed"
    # the generator step must not have touched the discriminator's weights
    model.zero_grad(set_to_none=True)
    d_before = [p.detach().clone() for p in groups["discriminator"]]
    loss, _ = model("generator", x, None)
    loss.backward()
    opts["generator"].step()
    assert all(torch.equal(a, b) for a, b in zip(d_before, groups["discriminator"]))


def test_adversarial_terms_change_the_generator_gradient():
    x = tones(2)
    grads = []
    for start in (0, 10_000):  # adversarial on at step 0 / still in the warm start
        model = vocos(disc_start_step=start)
        model.phases(0)
        loss, logs = model("generator", x, None)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.generator.parameters() if p.grad is not None]))
        assert ("g_adv" in logs) == (start == 0)
    assert not torch.allclose(grads[0], grads[1])


def test_gated_phase_with_a_shut_gate_is_the_phase_vocoder():
    torch.manual_seed(0)
    gated = VocosGenerator(16, 256, 64, 16, 32, 1, phase_mode="gated")
    acc = VocosGenerator(16, 256, 64, 16, 32, 1, phase_mode="accumulated")
    f = gated.stft.num_bins
    with torch.no_grad():  # same trunk and magnitude head; anchor head zero; the gate shut hard
        for (name, p), q in zip(gated.named_parameters(), acc.parameters()):
            if not name.startswith("head"):
                p.copy_(q)
        gated.head.weight.zero_()
        gated.head.bias.zero_()
        gated.head.weight[:f].copy_(acc.head.weight[:f])
        gated.head.bias[:f].copy_(acc.head.bias[:f])
        gated.head.bias[3 * f:] = -60.0
        log_mel = torch.randn(2, 16, 12)
        (m1, p1), (m2, p2) = gated.polar(log_mel), acc.polar(log_mel)
    assert torch.allclose(m1, m2)
    diff = torch.angle(torch.polar(torch.ones_like(p1), p1 - p2))
    assert diff.abs().max() < 1e-3
    with torch.no_grad():  # gate wide open: every frame restarts at its anchor (0) + πk
        gated.head.bias[3 * f:] = 60.0
        _, p3 = gated.polar(log_mel)
    k = torch.arange(f, dtype=torch.float32)[:, None]
    assert torch.angle(torch.polar(torch.ones_like(p3), p3 - torch.pi * k)).abs().max() < 1e-3


def test_gated_model_trains_and_round_trips_through_vocode():
    model = vocos(phase_mode="gated", disc_batch=1)
    model.phases(0)
    for phase in ("discriminator", "generator"):
        loss, _ = model(phase, tones(2), None)
        loss.backward()
        assert torch.isfinite(loss)
    model.eval()
    wave = tones(1)[:, 0, 0]
    assert model.vocode(model.log_mel(wave)).shape == (1, 1024)


@pytest.mark.parametrize("option, value, words", [
    ("mrd_fft_sizes", [8], "mrd_fft_sizes"),
    ("mrd_channels", 0, "mrd_channels"),
    ("disc_batch", -1, "disc_batch"),
    ("phase_mode", "magic", "phase_mode 'magic'"),
])
def test_bad_options_are_one_line_errors(option, value, words):
    with pytest.raises(GenlabError) as e:
        vocos(**{option: value})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_universal_dataset_pools_the_four_stems(tmp_path):
    root = gl.write_toy_musdb(tmp_path, n_train=1, n_test=0, seconds=0.5)
    sizes = {s: len(load_musdb_segments("train", root, stem=s, representation="waveform", segment_samples=4096))
             for s in ("drums", "bass", "other", "vocals", "all")}
    assert sizes["all"] == sum(v for k, v in sizes.items() if k != "all") > 0


def test_universal_preset_keeps_the_gan_on():
    cfg = resolve("musdb-vocos")
    m = cfg.model
    assert cfg.data.options["stem"] == "all" and cfg.family == "vocos"
    assert m.disc_start_step >= 0 and m.mrd_fft_sizes and m.periods and m.lambda_adv > 0 and m.lambda_fm > 0
    assert (m.sample_rate_hz, m.n_fft, m.hop, m.n_mels) == (44100, 1024, 256, 128)  # the evaluation's mel input


def test_training_resumes_and_leaves_a_snapshot(tmp_path):
    root = gl.write_toy_musdb(tmp_path / "data", n_train=1, n_test=0, seconds=0.5)
    spec = {"family": "vocos", "data": {"dataset": "musdb-wave", "data_dir": str(root),
                                        "options": {"stem": "all", "segment_samples": 1024}},
            "model": TINY | {"disc_batch": 1}, "run_dir": str(tmp_path / "run"),
            "train": {"batch_size": 2, "max_steps": 2, "threads": 1, "log_every": 1, "precision": "fp32",
                      "epoch_images": 2, "ema_decay": 0.9},
            "sample": {"num_images": 1}}
    first = gl.train(spec, progress=False)
    assert first.step == 2 and first.snapshot.is_file()
    second = gl.train(spec, ["train.max_steps=3"], progress=False)
    assert second.step == 3 and second.images_seen == 6  # went on from step 2, not from scratch
    loaded = gl.load(second.snapshot)
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 2048)).astype(np.float32)) * 0.1
    with torch.no_grad():
        out = loaded.model.vocode(loaded.model.log_mel(wave))
    assert out.shape == (1, 2048) and torch.isfinite(out).all()
