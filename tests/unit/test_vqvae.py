"""VQ-VAE: nearest-code quantiser, straight-through gradient, codebook vs commitment losses, the data-dependent
(k-means++) codebook start, dead-code restarts,
the code prior's causal mask and seeded sampling, phase groups, snapshot sampling, one-line config errors."""

from __future__ import annotations

import pytest
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.models.registry import get_family
from genlab.models.vqvae.model import kmeans_init, straight_through, vq_losses
from genlab.models.vqvae.prior import CodePrior

TINY = {"base_channels": 8, "latent_channels": 4, "codebook_size": 8, "prior_width": 16, "prior_depth": 2,
        "prior_heads": 2}


def tiny(**kw):
    torch.manual_seed(0)
    return get_family("vq-vae")((1, 16, 16), **{**TINY, **kw})


def test_quantize_picks_the_nearest_codebook_entry():
    model = tiny()
    z_e = torch.randn(3, 4, 4, 4)
    codes, z_q = model.quantize(z_e)
    vectors = z_e.permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(vectors, model.codebook.detach()).argmin(1)
    assert torch.equal(codes.flatten(), brute)
    assert torch.equal(z_q.permute(0, 2, 3, 1).reshape(-1, 4), model.codebook.detach()[brute])


def test_straight_through_forwards_z_q_and_passes_the_gradient_unchanged():
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q = torch.randn(2, 4, 3, 3)
    out = straight_through(z_e, z_q)
    assert torch.allclose(out, z_q)
    weight = torch.randn_like(z_q)
    (out * weight).sum().backward()
    assert torch.allclose(z_e.grad, weight)


def test_codebook_loss_moves_only_codes_and_commitment_only_the_encoder():
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q = torch.randn(2, 4, 3, 3, requires_grad=True)
    codebook, commit = vq_losses(z_e, z_q)
    assert torch.allclose(codebook, (z_q - z_e).pow(2).sum() / 2) and torch.allclose(commit, codebook)
    codebook.backward(retain_graph=True)
    assert z_e.grad is None and torch.allclose(z_q.grad, 2 * (z_q - z_e).detach() / 2)
    z_q.grad = None
    commit.backward()
    assert z_q.grad is None and torch.allclose(z_e.grad, 2 * (z_e - z_q).detach() / 2)


def test_model_phase_trains_autoencoder_and_codebook_prior_phase_only_the_prior():
    model = tiny(restart_every=0)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    groups = model.param_groups()
    prior_ids = {id(p) for p in groups["prior"]}
    for phase, hit, miss in (("model", groups["model"], groups["prior"]), ("prior", groups["prior"], groups["model"])):
        model.zero_grad(set_to_none=True)
        loss, _ = model(phase, x, None)
        loss.backward()
        assert all(p.grad is None for p in miss), phase
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in hit), phase
    assert id(model.codebook) in {id(p) for p in groups["model"]} and id(model.codebook) not in prior_ids
    assert {"recon", "codebook", "commitment", "codes_used"} <= set(model("model", x, None)[1])
    assert model.phases(0) == ["model", "prior"] and tiny(prior_start_step=5).phases(4) == ["model"]


def test_dead_codes_are_restarted_onto_encoder_outputs():
    model = tiny(restart_every=2, codebook_init="uniform")
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        model.codebook[3:] += 100.0  # far from every encoder output: never chosen
    model.set_step(1)
    model("model", x, None)
    model.set_step(2)
    _, logs = model("model", x, None)
    assert logs["codes_restarted"] >= 5
    z_e = model.encoder(x, None).permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.cdist(model.codebook.detach()[3:], z_e).min(1).values.max() < 1e-3


def test_kmeans_init_puts_one_centre_in_each_separated_cluster():
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    points = (means[:, None] + 0.1 * torch.randn(4, 50, 2, generator=g)).reshape(-1, 2)
    centres = kmeans_init(points, 4, generator=g)
    assert torch.cdist(means, centres).min(1).values.max() < 0.1  # every cluster found, at its mean
    assert kmeans_init(points[:3], 5).shape == (5, 2)  # fewer points than codes: repeats, no error


def _usage_after_training(init: str, steps: int) -> tuple[float, float]:
    """(codes used by the first training batch, perplexity of code usage on 256 held-out images after `steps`
    Adam steps) of a tiny VQ-VAE on noisy copies of 6 random prototypes, its encoder outputs shifted away from the
    origin (bias 2), as a trained encoder's are; dead-code restarts off, so only the start differs."""
    g = torch.Generator().manual_seed(1)
    protos = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1

    def data(n):
        return (protos[torch.randint(0, 6, (n,), generator=g)] + 0.3 * torch.randn(n, 1, 16, 16, generator=g)).clamp(-1, 1)

    x, held_out = data(64), data(256)
    model = tiny(codebook_size=16, codebook_init=init, restart_every=0)
    with torch.no_grad():
        model.encoder.head.bias.fill_(2.0)
    opt = torch.optim.Adam(model.param_groups()["model"], lr=1e-3)
    first = 0.0
    for step in range(steps):
        model.set_step(step)
        loss, logs = model("model", x, None)
        first = logs["codes_used"] if step == 0 else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = torch.bincount(model.eval().codes(held_out).flatten(), minlength=16).float()
    p = p[p > 0] / p.sum()
    return first, float(torch.exp(-(p * p.log()).sum()))


def test_data_dependent_codebook_start_uses_more_codes_than_the_uniform_start():
    first_uniform, perplexity_uniform = _usage_after_training("uniform", 40)
    first_kmeans, perplexity_kmeans = _usage_after_training("kmeans", 40)
    assert first_uniform <= 4 and first_kmeans == 16  # ±1/K codes near the origin: the few nearest take all
    assert perplexity_kmeans > perplexity_uniform + 2
    model = tiny()
    assert model.codebook_ready.item() == 0
    model("model", torch.rand(2, 1, 16, 16) * 2 - 1, None)
    assert model.codebook_ready.item() == 1 and "codebook_ready" in model.state_dict()  # once, and resumable
    before = model.codebook.detach().clone()
    model("model", torch.rand(2, 1, 16, 16) * 2 - 1, None)
    assert torch.equal(model.codebook.detach(), before)
    evaluated = tiny().eval()
    evaluated("model", torch.rand(2, 1, 16, 16) * 2 - 1, None)
    assert evaluated.codebook_ready.item() == 0  # only training starts the codebook


def test_prior_mask_is_causal():
    torch.manual_seed(0)
    prior = CodePrior(num_codes=8, length=10, width=16, depth=2, heads=2).eval()
    seq = torch.randint(0, 8, (2, 10))
    logits = prior(seq[:, :-1])
    assert logits.shape == (2, 10, 8)
    for j in (0, 4, 8):  # changing code j may change predictions for t > j only
        other = seq.clone()
        other[:, j] = (other[:, j] + 1) % 8
        changed = (prior(other[:, :-1]) - logits).abs().amax(dim=(0, 2))
        assert torch.all(changed[: j + 1] < 1e-6), (j, changed)
        assert changed[j + 1] > 1e-6
    # prefix form: the last logits of a prefix of length t are position t's logits of the full sequence
    assert torch.allclose(prior(seq[:, :4])[:, -1], logits[:, 4], atol=1e-5)


def test_prior_nll_is_the_cross_entropy_and_sampling_follows_each_seed():
    torch.manual_seed(0)
    prior = CodePrior(num_codes=5, length=6, width=16, depth=1, heads=2).eval()
    seq = torch.randint(0, 5, (3, 6))
    logp = torch.log_softmax(prior(seq[:, :-1]), dim=-1)
    assert torch.allclose(prior.nll(seq), -logp.gather(2, seq[..., None]).squeeze(2).sum(1), atol=1e-5)
    u = torch.rand(3, 6)
    a = prior.sample(u)
    assert a.shape == (3, 6) and a.min() >= 0 and a.max() < 5
    assert torch.equal(prior.sample(u[1:2]), a[1:2])
    greedy = prior.sample(u, temperature=0.0)
    assert torch.equal(greedy[:, 0], prior(greedy[:, :0])[:, 0].argmax(1))


def test_sampling_from_a_snapshot(tmp_path):
    model = tiny().eval()
    out = model.generate([5, 6, 7])
    assert out.shape == (3, 1, 16, 16) and out.min() >= -1 and out.max() <= 1
    path = save_snapshot(tmp_path / "vq.safetensors", model, {"channels": 1, "height": 16, "width": 16})
    loaded = load_snapshot(path, family="vq-vae").model
    assert torch.equal(loaded.generate([5, 6, 7]), out)
    assert torch.equal(loaded.sample_codes([6]), model.sample_codes([5, 6])[1:])
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    assert torch.allclose(loaded.decode(loaded.encode(x)), loaded.reconstruct(x))


@pytest.mark.parametrize("options, match", [
    ({"prior_width": 10, "prior_heads": 4}, "'prior_heads' = 4 must divide prior_width = 10"),
    ({"architecture": "conv_dense"}, "option 'architecture' = 'conv_dense' is not supported"),
    ({"codebook_size": 1}, "option 'codebook_size' = 1 must be in"),
    ({"codebook_init": "zeros"}, "option 'codebook_init' = 'zeros'"),
    ({"commitment": "high"}, "option 'commitment' = 'high' is not a finite number"),
    ({"prior_start_step": 100, "prior_only_from_step": 100}, "'prior_only_from_step' = 100 must exceed prior_st"),
    ({"prior_only_from_step": -1}, "option 'prior_only_from_step' = -1 must be in"),
])
def test_config_errors_are_one_line(options, match):
    with pytest.raises(GenlabError, match=match) as err:
        tiny(**options)
    assert "\n" not in str(err.value)


def test_temperature_towards_zero_gives_the_most_likely_codes():
    model = tiny().eval()
    seeds = [3, 4, 5]
    greedy = torch.zeros(len(seeds), 0, dtype=torch.long)  # argmax decoding, one position at a time
    for _ in range(model.prior.length):
        greedy = torch.cat([greedy, model.prior(greedy)[:, -1].argmax(1, keepdim=True)], dim=1)
    greedy = greedy.view(len(seeds), *model.latent_shape[1:])
    assert torch.equal(model.sample_codes(seeds, 0.0), greedy)
    assert torch.equal(model.sample_codes(seeds, 1e-4), greedy)  # the limit, not only the special case
    assert not torch.equal(model.sample_codes(seeds, 1.0), greedy)  # the untrained prior is far from one-hot
    assert torch.equal(model.generate(seeds, temperature=0.0), model.decode(model.embed(greedy)))


@pytest.mark.parametrize("temperature", [-0.5, float("nan"), float("inf")])
def test_a_bad_temperature_is_a_one_line_error(temperature):
    with pytest.raises(GenlabError, match="vq-vae: temperature .* must be a number >= 0") as err:
        tiny().generate([0], temperature=temperature)
    assert "\n" not in str(err.value)


def test_only_the_prior_phase_runs_from_prior_only_from_step_on():
    model = tiny(prior_start_step=2, prior_only_from_step=5)
    assert [model.phases(s) for s in (0, 1, 2, 4, 5, 9)] == [["model"]] * 2 + [["model", "prior"]] * 2 + \
        [["prior"]] * 2
    assert tiny().phases(10_000) == ["model", "prior"]  # 0 = never
