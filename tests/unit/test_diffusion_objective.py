"""Parameterisation conversions, loss weighting and the classifier-free-guidance Denoiser."""

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion import objective as obj
from genlab.models.diffusion.schedules import make_alphas_cumprod

AB = make_alphas_cumprod("cosine", 1000)


def _coeffs(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 1000, (n,), generator=g)
    x0, eps = torch.randn(n, 2, 5, 5, generator=g), torch.randn(n, 2, 5, 5, generator=g)
    alpha, sigma = obj.alpha_sigma(AB, t, 4, torch.float64)
    return t, x0.double(), eps.double(), alpha, sigma


def test_eps_v_x0_round_trip():
    _, x0, eps, alpha, sigma = _coeffs()
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(alpha))
    x_t = obj.q_sample(x0, eps, alpha, sigma)
    assert torch.allclose(obj.x0_from_eps(x_t, eps, alpha, sigma), x0, atol=1e-8)
    assert torch.allclose(obj.eps_from_x0(x_t, x0, alpha, sigma), eps, atol=1e-8)
    v = obj.v_from_x0_eps(x0, eps, alpha, sigma)
    x0_v, eps_v = obj.x0_eps_from_v(x_t, v, alpha, sigma)
    assert torch.allclose(x0_v, x0, atol=1e-10) and torch.allclose(eps_v, eps, atol=1e-10)
    for pred in ("eps", "v"):
        target = obj.training_target(pred, x0, eps, alpha, sigma)
        x0_o, eps_o = obj.x0_eps_from_output(pred, target, x_t, alpha, sigma)
        assert torch.allclose(x0_o, x0, atol=1e-6) and torch.allclose(eps_o, eps, atol=1e-8)


def test_loss_is_plain_mse_by_default_and_min_snr_reweights():
    _, _, eps, alpha, sigma = _coeffs()
    out = torch.zeros_like(eps)
    assert obj.diffusion_loss(out, eps, alpha, sigma, "eps").item() == pytest.approx(eps.square().mean().item())
    # min-SNR with eps target: weight min(SNR, gamma) / SNR <= 1, equal to 1 where SNR <= gamma.
    w = obj.min_snr_weight("eps", alpha, sigma, 5.0).flatten()
    snr = (alpha / sigma).flatten() ** 2
    assert torch.allclose(w[snr <= 5], torch.ones_like(w[snr <= 5])) and (w[snr > 5] < 1).all()
    weighted = obj.diffusion_loss(out, eps, alpha, sigma, "eps", min_snr_gamma=5.0)
    assert weighted.item() == pytest.approx((eps.square().flatten(1).mean(1) * w).mean().item())
    # v target: weight min(SNR, gamma) / (SNR + 1) < 1 everywhere.
    assert (obj.min_snr_weight("v", alpha, sigma, 5.0) < 1).all()


def test_noise_condition_scales_to_1000():
    assert obj.noise_condition(torch.tensor([0, 50, 99]), 100).tolist() == [0.0, 500.0, 990.0]


class FakeBackbone:
    """Output depends on the label (label k adds k; null = num_classes adds 100); records batch sizes."""

    num_classes = 3

    def __init__(self):
        self.batch_sizes = []

    def __call__(self, x, cond, labels):
        self.batch_sizes.append(x.shape[0])
        shift = torch.full((x.shape[0],), 100.0) if labels is None else labels.float().masked_fill(labels == 3, 100.0)
        return 0.1 * x + shift.reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_classifier_free_guidance(prediction):
    x, t, labels = torch.randn(2, 1, 4, 4), torch.tensor([500, 500]), torch.tensor([0, 2])
    den = lambda w, lab=labels: obj.Denoiser(FakeBackbone(), AB, prediction, lab, guidance=w)
    cond, uncond = den(1.0).predict(x, t), den(1.0, None).predict(x, t)
    assert torch.allclose(den(0.0)(x, t), uncond[0])
    w3 = den(3.0)
    guided_x0, guided_eps = w3.predict(x, t)
    assert w3.backbone.batch_sizes == [4]  # cond and uncond passes batched together
    assert torch.allclose(guided_x0, uncond[0] + 3 * (cond[0] - uncond[0]), atol=1e-4)
    assert torch.allclose(guided_eps, uncond[1] + 3 * (cond[1] - uncond[1]), atol=1e-4)


def test_guidance_interval_guides_only_inside_and_skips_the_second_pass_outside():
    # sigma/alpha at t = 100, 500, 900 of the cosine schedule: about 0.16, 1.0, 6.3
    x, labels = torch.randn(3, 1, 4, 4), torch.tensor([0, 1, 2])
    t = torch.tensor([100, 500, 900])
    full = obj.Denoiser(FakeBackbone(), AB, "v", labels, guidance=3.0)(x, t)
    cond = obj.Denoiser(FakeBackbone(), AB, "v", labels, guidance=1.0)(x, t)
    mixed = obj.Denoiser(FakeBackbone(), AB, "v", labels, guidance=3.0, guidance_interval=(0.5, 2.0))
    out = mixed(x, t)
    assert torch.allclose(out[1], full[1]) and torch.allclose(out[[0, 2]], cond[[0, 2]])
    assert not torch.allclose(full[0], cond[0])  # the interval made a difference
    outside = obj.Denoiser(FakeBackbone(), AB, "v", labels[[0]], guidance=3.0, guidance_interval="0.5,2")
    assert torch.allclose(outside(x[[0]], t[[0]]), cond[[0]]) and outside.backbone.batch_sizes == [1]  # one pass
    everywhere = obj.Denoiser(FakeBackbone(), AB, "v", labels, guidance=3.0, guidance_interval=(0, float("inf")))
    assert torch.allclose(everywhere(x, t), full)


class WeakBackbone(FakeBackbone):
    """A 'worse' network: the same label shift, half the image term (so strong - weak = 0.05 x)."""

    def __call__(self, x, cond, labels):
        return super().__call__(x, cond, labels) - 0.05 * x


@pytest.mark.parametrize("labels", [torch.tensor([0, 2]), None])
def test_autoguidance_extrapolates_away_from_the_weaker_model_with_the_same_labels(labels):
    """Karras et al. 2024: weak + w (strong - weak) in output space (so in x0 and eps), both networks given the
    batch's own labels (never the null class), one pass each; works without labels (unconditional models)."""
    x, t = torch.randn(2, 1, 4, 4), torch.tensor([300, 700])
    strong, weak = FakeBackbone(), WeakBackbone()
    guided = obj.Denoiser(strong, AB, "edm", labels, guidance=2.5, autoguide=weak)
    out_x0, out_eps = guided.predict(x, t)
    plain = obj.Denoiser(FakeBackbone(), AB, "edm", labels, guidance=1.0).predict(x, t)
    base = obj.Denoiser(WeakBackbone(), AB, "edm", labels, guidance=1.0).predict(x, t)
    assert torch.allclose(out_x0, base[0] + 2.5 * (plain[0] - base[0]), atol=1e-5)
    assert torch.allclose(out_eps, base[1] + 2.5 * (plain[1] - base[1]), atol=1e-4)
    assert not torch.allclose(out_x0, plain[0])
    assert strong.batch_sizes == [2] and weak.batch_sizes == [2]  # labels kept: no null-class pass
    one = obj.Denoiser(FakeBackbone(), AB, "edm", labels, guidance=1.0, autoguide=WeakBackbone())
    assert torch.allclose(one(x, t), plain[0]) and one.autoguide.batch_sizes == []  # w = 1: the weak net idles


@pytest.mark.parametrize("bad", ["2,1", "-1,3", "1", "a,b", (1.0, 2.0, 3.0)])
def test_guidance_interval_refuses_bad_values_in_one_line(bad):
    with pytest.raises(GenlabError, match="guidance_interval .*expected") as err:
        obj.check_guidance_interval(bad)
    assert "\n" not in str(err.value)


def test_clip_x0_keeps_x0_in_range_and_eps_consistent():
    x, t = 5 * torch.randn(2, 1, 4, 4), torch.tensor([10, 900])
    x0, eps = obj.Denoiser(FakeBackbone(), AB, "eps", clip_x0=True).predict(x, t)
    assert x0.abs().max() <= 1
    alpha, sigma = obj.alpha_sigma(AB, t)
    assert torch.allclose(obj.q_sample(x0, eps, alpha, sigma), x, atol=1e-3)


def test_bad_prediction_name():
    with pytest.raises(GenlabError, match="'x0'"):
        obj.check_prediction("x0")
