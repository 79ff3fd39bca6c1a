"""Classifier guidance on a toy problem with a known answer: two classes of Gaussian "images" (1, 2, 2) at +MU and
-MU. With the exact unconditional denoiser, guidance by the exact noisy classifier p(y | x_t, t) (and by a trained
`NoisyClassifier`) must raise the probability of the target class among the samples."""

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.diffusion.classifier_guidance import (
    GuidedDenoiser,
    accuracy_by_noise,
    load_classifier,
    save_classifier,
    train_noisy_classifier,
)
from genlab.models.diffusion.samplers import get_sampler
from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
from genlab.utils.seeding import randn_like_per_sample, sample_generators

AB = make_alphas_cumprod("cosine", 200)
MU = torch.tensor([0.6, -0.3, 0.2, 0.5], dtype=torch.float32).reshape(1, 1, 2, 2)
VAR = 0.15  # per-pixel variance of each class
SHAPE = (1, 2, 2)


def _a_s2(t):
    ab = AB[t.cpu()].float().reshape(-1, 1, 1, 1)
    return ab.sqrt(), 1 - ab


class ExactClassifier(nn.Module):
    """log p(y | x_t, t) up to a constant for the mixture 1/2 N(MU, VAR) + 1/2 N(-MU, VAR)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("alphas_cumprod", AB.clone())

    def forward(self, x_t, t):
        a, s2 = _a_s2(t)
        var = a**2 * VAR + s2
        d = [((x_t - a * m) ** 2 / var).flatten(1).sum(1) for m in (MU, -MU)]
        return -0.5 * torch.stack(d, dim=1)


def exact_denoise(x_t, t):
    a, s2 = _a_s2(t)
    p = torch.softmax(ExactClassifier()(x_t, t), dim=1)
    means = [m + a * VAR / (a**2 * VAR + s2) * (x_t - a * m) for m in (MU, -MU)]
    return p[:, 0].reshape(-1, 1, 1, 1) * means[0] + p[:, 1].reshape(-1, 1, 1, 1) * means[1]


def class0_share(x0):
    """Share of samples nearer +MU than -MU (the Bayes classifier of clean samples)."""
    return float(((x0 * MU).flatten(1).sum(1) > 0).float().mean())


def sample(classifier, scale, n=512, sampler="ddim"):
    gens = sample_generators(list(range(n)))
    x_T = randn_like_per_sample(gens, SHAPE)
    labels = torch.zeros(n, dtype=torch.long)
    denoise = GuidedDenoiser(exact_denoise, classifier, labels, scale, AB, clip_x0=False)
    return get_sampler(sampler)(denoise, x_T, sampling_timesteps(20, len(AB)), AB, generators=gens)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp-2m", "euler-ancestral"])
def test_exact_classifier_guidance_raises_the_target_class_share(sampler):
    shares = {s: class0_share(sample(ExactClassifier(), s, sampler=sampler)) for s in (0.0, 1.0, 3.0)}
    assert 0.4 < shares[0.0] < 0.6  # unguided: the two classes half and half
    assert shares[0.0] < shares[1.0] < shares[3.0] and shares[3.0] > 0.95, shares


def test_a_trained_noisy_classifier_learns_and_guides(tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (2048,), generator=g)
    x0 = torch.where(y.reshape(-1, 1, 1, 1) == 0, MU, -MU) + VAR**0.5 * torch.randn(2048, *SHAPE, generator=g)
    clf, _ = train_noisy_classifier(x0, y, AB, num_classes=2, steps=60, batch_size=64, lr=1e-2,
                                    base_channels=8, channel_mults=(1,), seed=0)
    acc = accuracy_by_noise(clf, x0[:512], y[:512], [0, 100, 199])
    assert acc[0] > 0.9 and acc[199] < 0.65, acc  # clean: separable; pure noise: chance
    path = save_classifier(clf, tmp_path / "clf.safetensors")
    loaded = load_classifier(path)
    assert torch.equal(loaded(x0[:8], torch.zeros(8, dtype=torch.long)), clf(x0[:8], torch.zeros(8, dtype=torch.long)))
    assert class0_share(sample(loaded, 3.0)) > class0_share(sample(loaded, 0.0)) + 0.3


def test_guidance_refuses_a_classifier_of_other_noise_levels_and_bad_files(tmp_path):
    other = ExactClassifier()
    other.alphas_cumprod = make_alphas_cumprod("linear", 200)
    with pytest.raises(GenlabError, match="trained at other noise levels"):
        GuidedDenoiser(exact_denoise, other, torch.zeros(1, dtype=torch.long), 1.0, AB)
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a file")
    with pytest.raises(GenlabError, match="cannot read the classifier"):
        load_classifier(bad)
