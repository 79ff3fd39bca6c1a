"""One contract every registered model family passes (build tiny, finite loss per phase, backward, snapshot
round trip with identical outputs, sample shape and range, per-seed determinism, declared capabilities that hold).

A new family adds one entry to TINY; the test fails for a registered family without one.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.errors import GenlabError
from genlab.inference import load_snapshot
from genlab.models.base import DOMAINS, LATENT_KINDS, GenerativeModel, LatentModel
from genlab.models.registry import ALIASES, FAMILIES, family_names, get_family

_GAN = {"base_channels": 8, "latent_dim": 8}
_AE = {"base_channels": 8, "latent_dim": 4}
TINY: dict[str, dict] = {
    "diffusion": {"base_channels": 8, "channel_mults": [1, 2], "attention_resolutions": [8], "num_heads": 1},
    "score-sde": {"base_channels": 8, "channel_mults": [1, 2], "attention_resolutions": [8], "num_heads": 1,
                  "num_scales": 50},
    "dcgan": _GAN,
    "wgan-gp": {**_GAN, "n_critic": 2},
    "vae": _AE,
    "ae": _AE,
    "dae": _AE,
    "sparse-ae": _AE,
    "spectral-ae": {"hidden": 8, "num_blocks": 1, "code_dim": 4},
    "vocos": {},
    "vae-gan": {**_AE, "d_base_channels": 8},
    "aae": {**_AE, "d_hidden": 16},
    "ladder-vae": {**_AE, "top_latent_dim": 3, "hidden": 16},
    "vq-vae": {"base_channels": 8, "latent_channels": 4, "codebook_size": 8, "prior_width": 16, "prior_depth": 1,
               "prior_heads": 2},
    "latent-diffusion": {},
}
# vocos vocodes waveforms (image_shape (1, 1, S) with S ≥ n_fft) conditioned on a mel, not on class labels, so the
# (1, 16, 16) contract cannot hold; tests/unit/test_audio_models.py runs the same checks on waveform segments.
SKIP = {"vocos": "waveform vocoder: image_shape (1, 1, S) and no class labels (own contract test in unit tests)",
        "latent-diffusion": "needs a frozen autoencoder snapshot to build (model.autoencoder); "
                            "tests/unit/test_latent_diffusion.py trains, saves, loads and samples it"}
SHAPE = (1, 16, 16)
FAST_SAMPLING = {"sampler": "ddim", "steps": 3}


def build(name: str, num_classes: int):
    torch.manual_seed(0)
    return get_family(name)(image_shape=SHAPE, num_classes=num_classes, **TINY[name])


def test_every_registered_family_has_a_tiny_config():
    assert sorted(TINY) == family_names()


@pytest.mark.parametrize("name", sorted(TINY))
def test_family_declares_its_capabilities(name):
    """Class-level declarations, checked against the class: table key = family name, known latent kind and
    domain, has_latent iff latent_kind "code", every sampling option is a keyword of `generate`."""
    cls = FAMILIES[name]
    assert issubclass(cls, GenerativeModel) and cls.family == name
    caps = cls.capabilities()
    assert caps.latent_kind in LATENT_KINDS and caps.domain in DOMAINS
    assert cls.has_latent == (caps.latent_kind == "code") == caps.has_latent
    params = inspect.signature(cls.generate).parameters
    assert all(option in params for option in caps.sampling_options), (name, caps.sampling_options)
    assert "callback" in params  # every family takes the per-step callback (one-shot ones never call it)
    assert all(get_family(alias) is FAMILIES[target] for alias, target in ALIASES.items())


@pytest.mark.parametrize("name", sorted(TINY))
def test_an_option_the_family_does_not_take_is_refused(name):
    cls = FAMILIES[name]
    assert cls.check_sampling_options({k: 1 for k in cls.sampling_options} | {"sampler": None}) is not None
    with pytest.raises(GenlabError, match=f"family '{name}' does not take sampling option 'nonsense'"):
        cls.check_sampling_options({"nonsense": 3})
    if "steps" not in cls.sampling_options:
        with pytest.raises(GenlabError, match="does not take sampling option 'steps'"):
            cls.check_sampling_options({"steps": 20})


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("num_classes", [0, 3])
def test_family_contract(name, num_classes, tmp_path):
    if name in SKIP:
        pytest.skip(SKIP[name])
    model = build(name, num_classes)
    x = torch.rand(4, *SHAPE) * 2 - 1
    y = torch.arange(4) % num_classes if num_classes else None
    groups = {k: list(v) for k, v in model.param_groups().items()}
    assert groups and all(groups.values())
    # every phase: finite loss, gradients reach that phase's group
    for phase in dict.fromkeys(model.phases(0)):
        model.zero_grad(set_to_none=True)
        loss, logs = model(phase, x, y)
        assert loss.ndim == 0 and torch.isfinite(loss), (phase, loss)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[phase])
    # sampling: shape, range, per-seed determinism
    model.eval()
    labels = torch.tensor([0, 1, 2]) % max(1, num_classes) if num_classes else None
    kw = {k: v for k, v in FAST_SAMPLING.items() if k in model.sampling_options}
    out = model.generate([1, 2, 3], labels, **kw)
    assert out.shape == (3, *SHAPE) and out.min() >= -1 and out.max() <= 1
    alone = model.generate([3], labels[2:] if labels is not None else None, **kw)
    assert torch.allclose(alone[0], out[2], atol=1e-5)
    # snapshot round trip: JSON kwargs rebuild the model, outputs identical
    path = save_snapshot(tmp_path / f"{name}.safetensors", model, {"channels": 1, "height": 16, "width": 16})
    loaded = load_snapshot(path, family=model.family).model
    assert torch.equal(loaded.generate([1, 2, 3], labels, **kw), out)
    # the latent-model protocol: families with a code latent decode what sample_latent draws
    if model.latent_kind == "code":
        assert isinstance(model, LatentModel)
        z = model.sample_latent([1, 2, 3])
        assert torch.allclose(model.decode(z, labels), out, atol=1e-5)
    else:
        with pytest.raises(GenlabError, match="has no latent space"):
            model.sample_latent([1])
