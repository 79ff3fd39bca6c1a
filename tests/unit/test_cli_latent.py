"""`genlab latent …`: each command writes its artifact from a tiny trained run; user mistakes print one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from genlab.cli.main import main
from tests_helpers import TINY, run_cli

COMMON = ["data.download=false", "train.batch_size=16", "train.max_steps=2", "train.epoch_images=32",
          "sample.num_images=4"]
SMALL = ["model.base_channels=4", "model.max_channels=16", "model.latent_dim=4"]


def _train(preset: str, data_dir: Path, run: Path, extra: list[str], capsys) -> Path:
    code, _, err = run_cli(["train", preset, f"data.data_dir={data_dir}", f"run_dir={run}", *COMMON, *extra,
                            "--quiet"], capsys)
    assert code == 0, err
    return run


@pytest.fixture(scope="module")
def vae_run(tiny_data_dir, tmp_path_factory) -> Path:
    """A tiny VAE trained (2 steps) on classes 0-7 of the toy MNIST, through `genlab train`."""
    run = tmp_path_factory.mktemp("cli-latent") / "vae"
    main(["train", "mnist-vae", f"data.data_dir={tiny_data_dir}", f"run_dir={run}", *COMMON, *SMALL,
          "data.classes=[0,1,2,3,4,5,6,7]", "--quiet"])
    return run


def test_interpolate_writes_a_strip(vae_run, tmp_path, capsys):
    out = tmp_path / "strip.png"
    code, stdout, err = run_cli(["latent", "interpolate", str(vae_run), "--seed-a", "2", "--seed-b", "9",
                                 "--steps", "6", "--method", "lerp", "-o", str(out)], capsys)
    assert code == 0, err
    assert "6-step lerp strip (seeds 2..9)" in stdout and out.is_file()
    width, height = Image.open(out).size
    assert width > 4 * height


def test_interpolate_between_dataset_images(vae_run, tmp_path, capsys):
    out = tmp_path / "pair.png"
    code, stdout, err = run_cli(["latent", "interpolate", str(vae_run), "--images", "1", "2", "-o", str(out)],
                                capsys)
    assert code == 0, err
    assert "images 1..2" in stdout and out.is_file()


def test_project_arithmetic_and_regularity(vae_run, tmp_path, capsys):
    code, stdout, err = run_cli(["latent", "project", str(vae_run), "-n", "30", "-o", str(tmp_path / "p.png")],
                                capsys)
    assert code == 0 and "pca projection of 30 images" in stdout, err
    code, stdout, err = run_cli(["latent", "arithmetic", str(vae_run), "--from", "1", "--to", "2", "-n", "64",
                                 "--rows", "2", "--scales", "0,1", "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0 and "x 2 scales (1 -> 2)" in stdout, err
    code, stdout, err = run_cli(["latent", "regularity", str(vae_run), "-n", "20"], capsys)
    assert code == 0, err
    stats = json.loads(stdout)
    assert stats["num_images"] == 20 and stats["num_dims"] == 4


def test_anomaly_uses_the_runs_held_out_classes(vae_run, tmp_path, capsys):
    out = tmp_path / "an.json"
    code, stdout, err = run_cli(["latent", "anomaly", str(vae_run), "-o", str(out)], capsys)
    assert code == 0, err
    assert stdout.startswith("ROC AUC ") and json.loads(out.read_text())["normal_classes"] == list(range(8))


def test_diffusion_interpolates_noise_but_has_no_latent(tiny_data_dir, tmp_path, capsys):
    """A diffusion model interpolates between two seeds' starting noises (deterministic DDIM decodes them) but has
    no encoder: the tools that need codes refuse it in one line."""
    run = _train("mnist-diffusion-quick", tiny_data_dir, tmp_path / "diff", [*TINY, "sample.steps=1",
                                                                              "train.max_steps=1"], capsys)
    strip = tmp_path / "strip.png"
    code, _, err = run_cli(["latent", "interpolate", str(run), "--steps", "3", "-o", str(strip)], capsys)
    assert code == 0, err
    assert strip.stat().st_size > 0
    for command in (["project", "-n", "5"], ["regularity", "-n", "5"], ["arithmetic", "--from", "1", "--to", "2"]):
        code, _, err = run_cli(["latent", *command, str(run)], capsys)
        assert code != 0
        assert err.strip().count("\n") == 0 and "'diffusion' has no latent space" in err


def test_fit_density_refits_an_autoencoder_snapshot(tiny_data_dir, tmp_path, capsys):
    """Training fits the code mixture itself (the snapshot samples from it); fit-density refits a saved snapshot
    on other images into a new snapshot that keeps the header and records the fit; a VAE is refused in one line."""
    from genlab.checkpoints.snapshot import read_header
    from genlab.inference import load_snapshot

    run = _train("mnist-sparse-ae", tiny_data_dir, tmp_path / "sae",
                 ["model.base_channels=4", "model.max_channels=16", "model.latent_dim=5",
                  "model.density_components=3"], capsys)
    trained = load_snapshot(run / "snapshot.safetensors").model
    assert trained.density_fitted and trained.gmm_weights.shape == (3,)
    out = tmp_path / "refit.safetensors"
    code, stdout, err = run_cli(["latent", "fit-density", str(run), "-n", "40", "--seed", "3", "-o", str(out)],
                                capsys)
    assert code == 0, err
    assert "fitted 3 components to the codes of 40 train images" in stdout
    header = read_header(out)
    assert header["density"]["num_images"] == 40 and header["config"] == read_header(run / "snapshot.safetensors")[
        "config"]
    refit = load_snapshot(out).model
    assert refit.density_fitted and not refit.gmm_means.equal(trained.gmm_means)
    assert {k: v for k, v in refit.state_dict().items() if not k.startswith("gmm_")}.keys() == \
        {k for k in trained.state_dict() if not k.startswith("gmm_")}


def test_fit_density_refuses_a_vae(vae_run, tmp_path, capsys):
    code, _, err = run_cli(["latent", "fit-density", str(vae_run), "-o", str(tmp_path / "x.safetensors")], capsys)
    assert code != 0 and err.strip().count("\n") == 0 and "'vae' samples from its own prior" in err


@pytest.mark.parametrize("args, message", [
    (["arithmetic", "{run}", "--from", "1", "--to", "2", "--scales", "0,x"], "--scales '0,x'"),
    (["anomaly", "{run}", "--normal", "a,b"], "--normal 'a,b'"),
    (["interpolate", "{run}", "--method", "cubic"], "'cubic' is not one of lerp, slerp"),
    (["interpolate", "{run}", "--steps", "1"], "steps"),
    (["project", "no-such-run"], "not a snapshot file, a run directory or a pretrained name"),
])
def test_bad_input_is_one_line(vae_run, args, message, capsys):
    code, _, err = run_cli(["latent", *[a.replace("{run}", str(vae_run)) for a in args]], capsys)
    assert code != 0 and message in err


@pytest.mark.parametrize("command", ["interpolate", "arithmetic", "project", "anomaly", "regularity", "fit-density"])
def test_every_command_has_help(command, capsys):
    code, stdout, _ = run_cli(["latent", command, "--help"], capsys)
    assert code == 0 and "Usage" in stdout and "--output" in stdout
