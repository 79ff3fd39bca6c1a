"""VQ-VAE: nearest-code quantiser, straight-through gradient, codebook vs commitment losses, dead-code restarts,
the code prior's causal mask and seeded sampling, phase groups, snapshot sampling, one-line config errors."""

from __future__ import annotations

import pytest
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.models.registry import get_family
from genlab.models.vqvae.model import straight_through, vq_losses
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
    model = tiny(restart_every=2)
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
    ({"commitment": "high"}, "option 'commitment' = 'high' is not a finite number"),
])
def test_config_errors_are_one_line(options, match):
    with pytest.raises(GenlabError, match=match) as err:
        tiny(**options)
    assert "\n" not in str(err.value)
