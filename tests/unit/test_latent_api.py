"""genlab.latent_api on tiny trained snapshots: loading through api.load, real data through the data registry with
the snapshot's own config, and one-line errors for models without a latent or without a posterior."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genlab.api as gl
from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from tests_helpers import TINY

NORMAL = list(range(9))  # class 9 is held out
TINY_NET = ["train.batch_size=16", "train.max_steps=2",
            "train.epoch_images=32", "train.log_every=1", "sample.num_images=4", "data.download=false"]


SMALL = ["model.base_channels=4", "model.max_channels=16"]


def _train(preset: str, data_dir: Path, run_dir: Path, *extra: str) -> Path:
    gl.train(preset, [f"data.data_dir={data_dir}", f"run_dir={run_dir}", *TINY_NET, *extra], progress=False)
    return run_dir


@pytest.fixture(scope="module")
def runs(tiny_data_dir, tmp_path_factory) -> dict[str, Path]:
    """Tiny VAE (trained on classes 0-8 only), autoencoder, DCGAN and diffusion runs on the toy MNIST."""
    root = tmp_path_factory.mktemp("latent-runs")
    classes = f"data.classes=[{','.join(map(str, NORMAL))}]"
    return {
        "vae": _train("mnist-vae", tiny_data_dir, root / "vae", *SMALL, "model.latent_dim=4", classes),
        "ae": _train("mnist-ae", tiny_data_dir, root / "ae", *SMALL, "model.latent_dim=4"),
        "gan": _train("mnist-dcgan", tiny_data_dir, root / "gan", *SMALL, "model.latent_dim=4"),
        "diffusion": _train("mnist-diffusion-quick", tiny_data_dir, root / "diff", *TINY, "sample.steps=1",
                            "train.max_steps=1"),
    }


def test_seed_interpolation_ends_are_the_seeds_samples(runs, tmp_path):
    out = tmp_path / "strip.png"
    res = gl.interpolate(runs["vae"], 3, 11, steps=5, method="slerp", out=out)
    assert res.images.shape == (5, 1, 28, 28) and res.images.dtype == torch.uint8
    ends = gl.load(runs["vae"]).generate(seeds=[3, 11])
    assert torch.equal(res.images[0], ends[0]) and torch.equal(res.images[-1], ends[1])
    assert res.path == out and Image.open(out).size[0] > Image.open(out).size[1]  # a horizontal strip


def test_diffusion_interpolates_its_ddim_starting_noise(runs):
    res = gl.interpolate(runs["diffusion"], 3, 11, steps=4, label=2)
    ends = gl.load(runs["diffusion"]).generate(seeds=[3, 11], labels=[2, 2], sampler="ddim", steps=20, eta=0.0)
    assert res.images.shape == (4, 1, 28, 28)
    assert (res.images[0].int() - ends[0].int()).abs().max() <= 1 and (res.images[-1].int() - ends[1].int()).abs().max() <= 1
    with pytest.raises(GenlabError, match="between seeds only"):
        gl.interpolate(runs["diffusion"], images=(0, 1))


def test_image_interpolation_reads_the_snapshots_dataset(runs, tiny_data_dir):
    res = gl.interpolate(runs["ae"], images=(0, 5), steps=4, method="lerp")
    gen = gl.load(runs["ae"])
    x, _ = load_dataset("mnist", split="test", data_dir=tiny_data_dir, download=False).get_batch([0, 5])
    recon = gen.model.decode(gen.model.encode(gen.codec.encode(x)))
    assert torch.equal(res.images[[0, -1]], gen.codec.to_display(recon.detach()))
    assert res.path is None


def test_interpolation_rejects_bad_indices_and_labels(runs):
    with pytest.raises(GenlabError, match="indices must be in 0..63"):
        gl.interpolate(runs["ae"], images=(0, 64))
    with pytest.raises(GenlabError, match="unconditional"):
        gl.interpolate(runs["vae"], label=3)


def test_arithmetic_table_starts_with_reconstructions(runs, tmp_path):
    res = gl.arithmetic(runs["ae"], 1, 7, n=64, rows=3, scales=(0.0, 1.0), out=tmp_path / "a.png")
    assert res.images.shape[1:] == (2, 1, 28, 28) and 1 <= res.images.shape[0] <= 3
    assert not torch.equal(res.images[:, 0], res.images[:, 1])  # the vector moved the codes
    assert res.path.is_file()
    with pytest.raises(GenlabError, match="class 12 has no encoded images"):
        gl.arithmetic(runs["ae"], 12, 7, n=64)


def test_projection_colours_every_encoded_image(runs, tmp_path):
    res = gl.project(runs["vae"], "pca", n=40, out=tmp_path / "p.png")
    assert res.points.shape == (40, 2) and np.isfinite(res.points).all()
    assert res.labels.shape == (40,) and res.path.is_file()
    with pytest.raises(GenlabError, match="not one of pca, tsne, umap"):
        gl.project(runs["vae"], "mds", n=10)


def test_anomaly_defaults_to_the_runs_training_classes(runs, tiny_data_dir, tmp_path):
    labels = load_dataset("mnist", split="test", data_dir=tiny_data_dir, download=False).labels
    res = gl.anomaly(runs["vae"], out_json=tmp_path / "an.json")
    assert res.normal_classes == NORMAL
    assert res.report.num_anomalous == int((labels == 9).sum()) and res.report.num_normal == int((labels != 9).sum())
    assert 0.0 <= res.report.roc_auc <= 1.0 and set(res.mean_score_per_class) == set(np.unique(labels).tolist())
    saved = json.loads((tmp_path / "an.json").read_text())
    assert saved["roc_auc"] == res.report.roc_auc and saved["normal_classes"] == NORMAL


@pytest.mark.parametrize("score", ["elbo", "latent"])
def test_vae_likelihood_scores(runs, tiny_data_dir, score):
    res = gl.anomaly(runs["vae"], score=score)
    assert set(res.auc_per_held_out_class) == {9} and 0.0 <= res.auc_per_held_out_class[9] <= 1.0
    # one held-out class: its own AUC is the overall AUC
    assert res.auc_per_held_out_class[9] == pytest.approx(res.report.roc_auc)
    assert all(np.isfinite(v) and v >= 0 for v in res.mean_score_per_class.values())


def test_likelihood_scores_need_a_vae(runs):
    with pytest.raises(GenlabError, match="needs a VAE"):
        gl.anomaly(runs["ae"], [0, 1, 2], score="elbo")
    with pytest.raises(GenlabError, match="needs a VAE"):
        gl.anomaly(runs["ae"], [0, 1, 2], score="latent")
    with pytest.raises(GenlabError, match="expected one of mse, elbo, latent"):
        gl.anomaly(runs["vae"], score="psnr")


def test_anomaly_needs_held_out_classes(runs):
    with pytest.raises(GenlabError, match="trained on every class"):
        gl.anomaly(runs["ae"])
    assert gl.anomaly(runs["ae"], [0, 1, 2]).report.num_normal > 0


def test_anomaly_on_a_run_trained_on_the_normal_classes(tiny_data_dir, tmp_path):
    """A name given to anomaly is a snapshot source (as everywhere), never a preset to train: hold classes out by
    training first; the normal classes then default to the run's data.classes."""
    gl.train("mnist-ae", ["data.classes=[0,1,2,3,4]", f"data.data_dir={tiny_data_dir}", f"run_dir={tmp_path / 'r'}",
                          *TINY_NET, *SMALL], progress=False)
    res = gl.anomaly(tmp_path / "r")
    assert res.normal_classes == [0, 1, 2, 3, 4]
    assert gl.snapshot_info(tmp_path / "r").data_config["classes"] == [0, 1, 2, 3, 4]
    with pytest.raises(GenlabError, match="is not a snapshot file, a run directory or a pretrained name"):
        gl.anomaly("mnist-ae-not-shipped", [0, 1])


def test_regularity_reports_kl_and_prior_samples(runs, tmp_path):
    stats = gl.regularity(runs["vae"], n=48, out_json=tmp_path / "r.json", prior_out=tmp_path / "prior.png",
                          num_prior=8)
    assert stats["num_images"] == 48 and stats["num_dims"] == 4 and len(stats["kl_per_dim"]) == 4
    assert stats["kl_total"] == pytest.approx(sum(stats["kl_per_dim"])) and stats["kl_total"] >= 0
    assert 0 <= stats["active_units"] <= 4 and (tmp_path / "prior.png").is_file()
    assert json.loads((tmp_path / "r.json").read_text())["frechet_to_prior"] == stats["frechet_to_prior"]


@pytest.mark.parametrize("kind, call, message", [
    ("diffusion", lambda s: gl.arithmetic(s, 1, 2, n=5), "'diffusion' has no latent space"),
    ("diffusion", lambda s: gl.project(s, n=5), "'diffusion' has no latent space"),
    ("ae", lambda s: gl.regularity(s, n=5), "'ae' has no posterior"),
    ("gan", lambda s: gl.regularity(s, n=5), "'dcgan' has no posterior"),
])
def test_one_line_errors_for_models_without_the_needed_latent(runs, kind, call, message):
    with pytest.raises(GenlabError, match=message) as err:
        call(runs[kind])
    assert "\n" not in str(err.value)


def test_gan_seed_interpolation_and_dataset_override_errors(runs):
    assert gl.interpolate(runs["gan"], 0, 1, steps=3).images.shape == (3, 1, 28, 28)
    with pytest.raises(GenlabError, match="unknown dataset|no-such"):
        gl.project(runs["ae"], n=5, dataset="no-such-set")
