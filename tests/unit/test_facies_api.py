"""genlab.facies: side-by-side comparison and the ES-MDA demo on tiny untrained snapshots (no /work/shared)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.facies import compare_models, esmda_demo
from genlab.facies import report as rp
from genlab.facies.conditioning import make_setup, observe, well_grid
from genlab.facies.evaluation import load_run_data, uses_linear
from genlab.models.gan.model import WGANGP
from genlab.models.vae.model import VAE
from tests_helpers import save_facies_snapshot

SIZE = 16
TINY = {"base_channels": 4, "max_channels": 8}


def _snapshot(tmp_path, name: str, model: torch.nn.Module, size: int = SIZE):
    return save_facies_snapshot(tmp_path, name, model, size)


@pytest.fixture
def runs(tmp_path):
    vae_dense = VAE((1, SIZE, SIZE), architecture="conv_dense", latent_dim=6, **TINY)
    vae_conv = VAE((1, SIZE, SIZE), architecture="fully_conv", latent_channels=2, **TINY)
    gan_conv = WGANGP((1, SIZE, SIZE), architecture="fully_conv", latent_channels=2, **TINY)
    return [_snapshot(tmp_path, "vae-dense", vae_dense), _snapshot(tmp_path, "vae-conv", vae_conv),
            _snapshot(tmp_path, "gan-conv", gan_conv)]


def test_compare_models_writes_the_side_by_side_report(runs, tmp_path):
    out = tmp_path / "cmp"
    summary = compare_models(runs, n=12, out_dir=out)
    dense, conv, gan = summary["runs"]
    assert [r["label"] for r in summary["runs"]] == ["vae-dense", "vae-conv", "gan-conv"]
    # architecture facts: the fully convolutional models contain no nn.Linear, the dense one does
    assert dense["has_linear"] and not conv["has_linear"] and not gan["has_linear"]
    assert dense["latent_shape"] == [6] and conv["latent_shape"][0] == 2 and len(conv["latent_shape"]) == 3
    assert dense["params_total"] > dense["params_generator"] > 0
    assert dense["train_seconds"] == 12.0 and dense["train_images_per_s"] == pytest.approx(50.0)
    assert dense["train_cpu_seconds"] == 30.0  # process CPU time, kept apart from the wall-clock time
    # VAEs: reconstruction and latent regularity; GANs have neither
    assert 0.0 <= dense["reconstruction"]["pixel_accuracy"] <= 1.0
    assert len(dense["regularity"]["kl_per_dim"]) == 6
    assert len(conv["regularity"]["kl_per_dim"]) == int(np.prod(conv["latent_shape"]))
    assert "reconstruction" not in gan and "regularity" not in gan
    assert dense["metrics"]["counts"]["fake"] == 12 and "floor" in dense["metrics"]
    # the facies-classifier Fréchet distance, beside its real-vs-real floor (the shipped 64 px net; 16 px upsampled)
    assert dense["metrics"]["fake"]["facies_frechet"] >= 0 and dense["metrics"]["floor"]["facies_frechet"] >= 0
    assert dense["metrics"]["feature_net"]["name"] == "channels-64"
    assert dense["realizations_per_s"] > 0
    files = {p.name for p in out.iterdir()}
    assert {"report.md", "report.html", "comparison.json", "real-samples.png", "variogram_x.png"} <= files
    assert "0-vae-dense-samples.png" in files and "2-gan-conv-interpolation.png" in files
    md = (out / "report.md").read_text()
    assert "| metric | vae-dense | vae-conv | gan-conv | real vs real (floor) |" in md
    assert "| Fréchet distance, facies-net features |" in md
    assert "| training time, wall-clock (min) | 0.2 |" in md and "| training time, process CPU (min" in md
    assert "CPU training time" not in md  # wall-clock time is no longer labelled as CPU time
    assert json.loads((out / "comparison.json").read_text())["n"] == 12


def test_compare_rejects_different_image_sizes(tmp_path, runs):
    big = _snapshot(tmp_path, "big", VAE((1, 32, 32), architecture="conv_dense", latent_dim=4, **TINY), size=32)
    with pytest.raises(GenlabError, match="one image size"):
        compare_models([runs[0], big], n=4, out_dir=tmp_path / "x")
    with pytest.raises(GenlabError, match="at least one"):
        compare_models([], out_dir=tmp_path / "y")


def test_held_out_procedural_images_are_disjoint_from_training():
    data_config = {"dataset": "channels-procedural", "options": {"n": 30, "size": SIZE}}
    data = load_run_data(data_config, 10, n_train=30)
    assert data.held_out.shape == (10, SIZE, SIZE) and data.train.shape == (30, SIZE, SIZE)
    flat_train = {t.tobytes() for t in data.train}
    assert not any(h.tobytes() in flat_train for h in data.held_out)
    with pytest.raises(GenlabError, match="config.data.dataset"):
        load_run_data({}, 4)


def test_setup_data_match_the_truth_within_noise():
    setup = make_setup(SIZE, truth_seed=2, wells=5)
    assert setup.well_cells.shape == (5, 2) and setup.truth.shape == (SIZE, SIZE)
    d = observe(setup.truth[None].astype(float), setup.well_cells, setup.pattern)[0]
    assert np.allclose(d, setup.d_true)
    assert np.all(np.abs(setup.d_obs - setup.d_true) < 5 * np.sqrt(setup.cd))
    assert len(well_grid(64, 9)) == 9 and well_grid(64, 9).max() < 64
    with pytest.raises(GenlabError, match="wells"):
        well_grid(64, 0)


def test_esmda_demo_reports_every_iteration(runs, tmp_path):
    out = tmp_path / "esmda"
    summary = esmda_demo(runs[1], truth_seed=1, wells=4, n_ens=12, n_assim=2, out_dir=out)
    hist = summary["history"]
    assert len(hist) == 3 and [h["iteration"] for h in hist] == [0, 1, 2]
    assert sum(1 / a for a in summary["alphas"]) == pytest.approx(1.0)
    for h in hist:
        assert np.isfinite(h["mismatch_mean"]) and h["m_std"] > 0
        assert 0 <= h["extras"]["well_facies_match"] <= 1
    assert summary["prior_latent"]["mean_sq_norm_per_dim"] > 0
    assert {"esmda.md", "esmda.html", "esmda.json", "esmda-prior.png", "esmda-posterior.png"} <= {
        p.name for p in out.iterdir()}
    assert "| iteration | α |" in (out / "esmda.md").read_text()


def test_report_helpers():
    r = {"a": {"b": 120.0}, "family": "vae", "architecture": "fully_conv"}
    assert rp.lookup(r, "a.b/60") == 2.0 and rp.lookup(r, "a.c") is None
    assert rp.lookup(r, "family+architecture") == "vae / fully_conv"
    assert rp.fmt(float("nan"), ".2f") == "—" and rp.fmt(1234, ",d") == "1,234"
    assert rp.floor_path("metrics.fake.pattern_js_4x4") == "metrics.floor.pattern_js_4x4"
    html = rp.to_html([("h1", "a<b"), ("table", ["x"], [["1"]])], "t")
    assert "a&lt;b" in html and "<td>1</td>" in html
    assert not uses_linear(torch.nn.Conv2d(1, 1, 3)) and uses_linear(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_comparison_table_takes_other_rows():
    runs = [{"label": "a", "train_step": {"64": {"seconds": 1.234}}, "metrics": {"fake": {"m": 0.5}, "floor": {"m": 0.1}}},
            {"label": "b", "train_step": {}, "metrics": {"fake": {"m": 0.7}}}]
    header, rows = rp.comparison_table(runs, [("step s", "train_step.64.seconds", ".2f", "lower"),
                                              ("m", "metrics.fake.m", ".1f", "lower")])
    assert header == ["metric", "a", "b", "real vs real (floor)", "better"]
    assert rows == [["step s", "1.23", "—", "", "lower"], ["m", "0.5", "0.7", "0.1", "lower"]]
    assert len(rp.comparison_table(runs)[1]) == len(rp.COMPARISON_ROWS)


@pytest.mark.slow
def test_cli_compare_prints_each_model_with_the_frechet_floor(runs, tmp_path, capsys):
    from tests_helpers import run_cli

    code, out, err = run_cli(["channels", "compare", str(runs[1]), "-n", "8", "-o", str(tmp_path / "c")], capsys)
    assert code == 0, err
    assert "vae-conv" in out and "facies Fréchet" in out and "(floor " in out and "report:" in out


def _h5(path, images, key="train_images"):
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=images)
    return path


def test_compare_takes_a_separate_reference_file(runs, tmp_path):
    from genlab.data.sources.channels import write_channels_h5

    ref = write_channels_h5(tmp_path / "ref.h5", 30, seed=7, size=32)  # LTrace format, another size than the models
    summary = compare_models(runs[:1], n=12, out_dir=tmp_path / "cmp", reference=ref)
    counts = summary["runs"][0]["metrics"]["counts"]
    assert counts == {"fake": 12, "real_reference": 12, "real_floor": 12, "train": 40}  # 24 of the 30 file images
    assert "reference file ref.h5: its first 24 images, resized 32x32 -> 16x16" in summary["data"]
    assert "reference file ref.h5" in (tmp_path / "cmp" / "report.md").read_text()


@pytest.mark.parametrize("case, match", [
    ("missing", r"missing\.h5 not found; expected an LTrace-format HDF5 file: dataset 'train_images'"),
    ("too-few", r"too-few\.h5: 10 images, but -n 12 needs 24"),
    ("values", r"values\.h5:train_images: image 0 holds values \{0, 255\}.*expected an LTrace-format"),
    ("two-keys", r"two-keys\.h5: no dataset 'train_images' and 2 candidates.*\(N, 128, 128, 1\)"),
    ("shape", r"shape\.h5:train_images: shape \(4, 16, 16, 3\).*uint8 values in \{0, 1\}"),
])
def test_reference_file_errors_name_the_file_and_the_format(runs, tmp_path, case, match):
    imgs = (np.random.default_rng(0).random((10, 16, 16, 1)) < 0.3).astype(np.uint8)
    path = tmp_path / f"{case}.h5"
    if case == "too-few":
        _h5(path, imgs)
    elif case == "values":
        _h5(path, imgs * 255)
    elif case == "two-keys":
        _h5(path, imgs, key="a")
        import h5py

        with h5py.File(path, "a") as f:
            f.create_dataset("b", data=imgs)
    elif case == "shape":
        _h5(path, np.zeros((4, 16, 16, 3), np.uint8))
    with pytest.raises(GenlabError, match=match) as e:
        compare_models(runs[:1], n=12, out_dir=tmp_path / "cmp", reference=path)
    assert "\n" not in str(e.value)


def test_cli_compare_reference_error_is_one_line(runs, tmp_path, capsys):
    from genlab.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["channels", "compare", str(runs[0]), "-n", "4", "-o", str(tmp_path / "c"),
              "--reference", str(tmp_path / "nope.h5")])
    err = capsys.readouterr().err.strip()
    assert e.value.code != 0 and err.count("\n") == 0 and "nope.h5 not found" in err and "train_images" in err
