"""Linear probe (genlab.metrics.probe): separable toy codes are read perfectly, random codes at chance, the codes
of a model come from its encoder, and bad inputs are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.probe import frozen_codes, linear_probe


def _blobs(n: int, seed: int, sep: float):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0, 0], [1, 0], [0, 1]]) * sep
    return centres[y] + rng.normal(size=(n, 2)), y


def test_separable_codes_are_read_perfectly_and_noise_at_chance():
    xtr, ytr = _blobs(300, 0, sep=20.0)
    xte, yte = _blobs(200, 1, sep=20.0)
    r = linear_probe(xtr, ytr, xte, yte)
    assert r.accuracy == 1.0 and r.dim == 2 and (r.n_train, r.n_test) == (300, 200)
    rng = np.random.default_rng(2)
    noise = linear_probe(rng.normal(size=(300, 5)), ytr, rng.normal(size=(200, 5)), yte)
    assert abs(noise.accuracy - noise.chance) < 0.12 and 0.3 < noise.chance < 0.45
    assert noise.stderr == pytest.approx(np.sqrt(noise.accuracy * (1 - noise.accuracy) / 200))


def test_mismatched_inputs_are_one_line_errors():
    xtr, ytr = _blobs(50, 0, 5.0)
    with pytest.raises(GenlabError, match="labels"):
        linear_probe(xtr, ytr[:10], xtr, ytr)
    with pytest.raises(GenlabError, match="features"):
        linear_probe(xtr, ytr, xtr[:, :1], ytr)
    with pytest.raises(GenlabError, match="single class"):
        linear_probe(xtr, np.zeros(50), xtr, ytr)


def test_frozen_codes_use_the_vae_mean_and_the_ae_code():
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    vae = get_family("vae")((1, 28, 28), 0, base_channels=8, latent_dim=4)
    ae = get_family("ae")((1, 28, 28), 0, base_channels=8, latent_dim=6)
    with torch.no_grad():
        assert torch.allclose(frozen_codes(vae, x, batch_size=2), vae.encode(x)[0])
        assert frozen_codes(ae, x).shape == (5, 6)
    with pytest.raises(GenlabError, match="no encoder"):
        frozen_codes(torch.nn.Linear(2, 2), x)
