"""β-TC-VAE (the total-correlation estimate and the tc_beta option), latent traversals and MIG of a snapshot
trained on the dsprites source, and the CLI commands over them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

import genlab.api as gl
from genlab.errors import GenlabError
from genlab.latent.explore import dims_basis, pca_basis
from genlab.models.registry import get_family
from genlab.models.vae.losses import total_correlation
from tests_helpers import run_cli

SPRITES = ["data.dataset=dsprites", "data.options.size=16", "data.options.n=200", "data.download=false",
           "model.base_channels=4", "model.max_channels=16", "model.latent_dim=4", "train.batch_size=16",
           "train.max_steps=3", "train.epoch_images=64", "train.log_every=1", "sample.num_images=4",
           "train.precision=fp32"]


def test_total_correlation_is_small_for_independent_and_large_for_duplicated_codes():
    torch.manual_seed(0)
    m = 256
    mu = torch.randn(m, 4)
    logvar = torch.full((m, 4), -2.0)  # posterior std 0.37 around means spread N(0, 1)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    independent = float(total_correlation(z, mu, logvar))
    mu_dup = mu.clone()
    mu_dup[:, 1:] = mu_dup[:, :1]  # every dimension the same value: maximal dependence
    z_dup = mu_dup + (0.5 * logvar).exp() * torch.randn_like(mu)
    duplicated = float(total_correlation(z_dup, mu_dup, logvar))
    assert independent < 0.6 and duplicated > independent + 1.5  # measured 0.34 and 2.39
    # a data set size N (minibatch-weighted sampling) only adds (D - 1) log N
    with_n = float(total_correlation(z, mu, logvar, dataset_size=60000))
    assert with_n - independent == pytest.approx(3 * math.log(60000), rel=1e-4)


def test_tc_beta_adds_its_weighted_total_correlation_to_the_elbo():
    kw = {"image_shape": (1, 16, 16), "base_channels": 4, "max_channels": 16, "latent_dim": 4}
    torch.manual_seed(0)
    plain = get_family("vae")(**kw)
    tc = get_family("vae")(**kw, tc_beta=6.0)
    tc.load_state_dict(plain.state_dict())
    x = (torch.rand(8, 1, 16, 16) > 0.7).float() * 2 - 1
    torch.manual_seed(1)
    loss_plain, logs_plain = plain("model", x, None)
    torch.manual_seed(1)
    loss_tc, logs_tc = tc("model", x, None)
    assert "tc" not in logs_plain and "tc" in logs_tc
    assert float(loss_tc.detach()) == pytest.approx(float(loss_plain.detach()) + 5.0 * float(logs_tc["tc"]), rel=1e-5)
    with pytest.raises(GenlabError, match="tc_beta"):
        get_family("vae")(**kw, tc_beta=-1.0)


def test_bases_pca_orders_by_variance_and_dims_picks_axes():
    torch.manual_seed(0)
    codes = torch.randn(500, 3) * torch.tensor([5.0, 1.0, 0.1])
    b = pca_basis(codes, 2, "encoded")
    assert b.directions.shape == (2, 3) and abs(float(b.directions[0, 0])) > 0.99
    assert float(b.stds[0]) == pytest.approx(5.0, rel=0.1) and float(b.explained.sum()) < 1.0
    z = b.latent([1.0, 0.0], (3,))
    assert torch.allclose(z[0], b.centre + b.stds[0] * b.directions[0])
    d = dims_basis(codes, [2], "prior")
    assert d.directions.tolist() == [[0.0, 0.0, 1.0]] and d.dims == [2]
    with pytest.raises(GenlabError, match="dims"):
        dims_basis(codes, [3], "prior")
    with pytest.raises(GenlabError, match="coords: expected 2 values"):
        b.latent([1.0], (3,))


@pytest.fixture(scope="module")
def sprites_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("sprites") / "tcvae"
    gl.train("mnist-vae", [*SPRITES, "model.tc_beta=4", f"run_dir={run}", f"data.data_dir={run.parent}"],
             progress=False)
    return run


def test_traverse_rows_change_one_dimension(sprites_run, tmp_path):
    res, dims = gl.traverse(sprites_run, dims=[0, 2], values=[-2, 0, 2], image=1, out=tmp_path / "t.png")
    assert res.images.shape == (6, 1, 16, 16) and dims == [0, 2]
    assert Image.open(tmp_path / "t.png").size[0] > Image.open(tmp_path / "t.png").size[1]
    res, dims = gl.traverse(sprites_run, rows=3, seed=5)
    assert len(dims) == 3 and res.images.shape[0] == 3 * 9
    with pytest.raises(GenlabError, match="latent dimensions are 0..3"):
        gl.traverse(sprites_run, dims=[7])
    with pytest.raises(GenlabError, match="image = 999"):
        gl.traverse(sprites_run, image=999)


def test_disentanglement_on_the_sprites_test_split(sprites_run):
    res = gl.disentanglement(sprites_run, n=40)
    assert 0.0 <= res["mig"] <= 1.0 and res["n"] == 40
    assert set(res["per_factor"]) == {"shape", "scale", "orientation", "pos_x", "pos_y"}


def test_mig_needs_factor_labels(tiny_data_dir, tmp_path):
    run = tmp_path / "mnist-vae"
    gl.train("mnist-vae", [f"data.data_dir={tiny_data_dir}", f"run_dir={run}", "data.download=false",
                           "model.base_channels=4", "model.max_channels=16", "model.latent_dim=4",
                           "train.batch_size=16", "train.max_steps=1", "train.epoch_images=32",
                           "sample.num_images=4"], progress=False)
    with pytest.raises(GenlabError, match="no generative-factor labels"):
        gl.disentanglement(run, n=20)


def test_cli_traverse_and_mig(sprites_run, tmp_path, capsys):
    out = tmp_path / "trav.png"
    code, stdout, _ = run_cli(["latent", "traverse", str(sprites_run), "--dims", "0,1", "--image", "2",
                               "-o", str(out)], capsys)
    assert code == 0 and out.exists() and "dims 0, 1" in stdout
    code, stdout, _ = run_cli(["latent", "mig", str(sprites_run), "-n", "40"], capsys)
    assert code == 0 and "MIG" in stdout and "n = 40" in stdout
    code, _, stderr = run_cli(["latent", "traverse", str(sprites_run), "--values", "a,b", "-o", str(out)], capsys)
    assert code != 0 and "--values" in stderr and "Traceback" not in stderr
