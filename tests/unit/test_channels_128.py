"""Issue 14's channel set-up at 128×128 on tiny synthetic snapshots (seconds): the presets, diversity checks,
VAE-GAN and diffusion columns in the comparison, truths from held-out images, and the ES-MDA vs inpainting benchmark."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlab.config.presets import resolve
from genlab.data.sources.channels import generate_channels
from genlab.errors import GenlabError
from genlab.facies import compare_models, esmda_demo, inpaint_demo
from genlab.facies.conditioning import make_setup, stats, well_mask, wells_honoured
from genlab.facies.evaluation import diversity, uses_linear
from genlab.models.registry import get_family
from tests_helpers import save_facies_snapshot

SIZE = 16
TINY = {"base_channels": 4, "max_channels": 8}
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PRESETS_128 = ["channels-vae-dense", "channels-vae-fullconv", "channels-wgan-dense", "channels-wgan-fullconv",
               "channels-sgan", "channels-vaegan"]


def _snapshot(tmp_path, name, model, sample=None):
    return save_facies_snapshot(tmp_path, name, model, SIZE, sample)


@pytest.fixture
def runs(tmp_path):
    vaegan = get_family("vae-gan")((1, SIZE, SIZE), architecture="fully_conv", latent_channels=2,
                                   d_base_channels=4, upsample="nearest", **TINY)
    diff = get_family("diffusion")((1, SIZE, SIZE), base_channels=8, channel_mults=[1, 2], attention_resolutions=[8],
                                   num_heads=1)
    return {"vaegan": _snapshot(tmp_path, "vaegan", vaegan),
            "diffusion": _snapshot(tmp_path, "diffusion", diff, {"sampler": "ddim", "steps": 2})}


@pytest.mark.parametrize("preset", PRESETS_128)
def test_channel_presets_default_to_128_and_keep_a_64_quick_version(preset):
    cfg = resolve(preset)
    assert cfg.data.options["size"] == 128 and cfg.train.max_steps > 0 and cfg.train.threads == 1
    quick = resolve(f"{preset}-64")
    assert quick.data.options == {"n": 5000, "size": 64}
    same = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "kl_warmup_steps"}
    assert {k: v for k, v in dataclasses.asdict(quick.model).items() if k != "kl_warmup_steps"} == same
    if hasattr(cfg.model, "kl_warmup_steps"):  # the 64-px VAEs keep their 500-step warm-up
        assert quick.model.kl_warmup_steps == 500 and cfg.model.kl_warmup_steps < cfg.train.max_steps
    model = get_family(cfg.family)(image_shape=(1, 128, 128), **dataclasses.asdict(cfg.model))
    with torch.no_grad():
        assert model.decode(model.sample_latent([0, 1])).shape == (2, 1, 128, 128)


def test_the_64_presets_are_the_pre_issue_14_configs():
    vae = resolve("channels-vae-fullconv-64")
    assert (vae.train.batch_size, vae.train.epochs, vae.train.lr, vae.model.latent_channels) == (64, 10.0, 1e-3, 4)
    gan = resolve("channels-wgan-dense-64")
    assert gan.family == "wgan-gp" and gan.train.lr == 1e-4 and gan.model.latent_dim == 64


def test_sgan_preset_is_hinge_spectral_norm_with_a_spatial_latent():
    cfg = resolve("channels-sgan")
    assert cfg.family == "dcgan" and cfg.model.loss == "hinge" and cfg.model.spectral_norm
    assert cfg.model.architecture == "fully_conv" and cfg.model.n_critic == 1 and cfg.model.d_lr_scale > 1
    model = get_family(cfg.family)(image_shape=(1, 128, 128), **dataclasses.asdict(cfg.model))
    assert len(model.latent_shape) == 3 and model.latent_shape[1:] == (4, 4)  # a latent *map*
    assert not uses_linear(model)
    from torch.nn.utils import parametrize

    assert any(parametrize.is_parametrized(m, "weight") for m in model.discriminator.modules())  # spectral norm


def test_vaegan_preset_shares_the_fully_conv_latent_map():
    cfg = resolve("channels-vaegan")
    model = get_family(cfg.family)(image_shape=(1, 128, 128), **dataclasses.asdict(cfg.model))
    fullconv = get_family("vae")(image_shape=(1, 128, 128), **dataclasses.asdict(resolve("channels-vae-fullconv").model))
    assert model.latent_shape == fullconv.latent_shape and not uses_linear(model.decoder)


def test_diversity_sees_a_collapsed_set():
    real = generate_channels(60, seed=0, size=SIZE)
    a, b = real[:30], real[30:]
    collapsed = np.repeat(real[:1], 30, axis=0)
    out = diversity(collapsed, a, b, None)
    assert out["fake"]["pairwise_hamming"] == 0.0 and out["floor"]["pairwise_hamming"] > 0.05
    from genlab.metrics.facies import load_facies_feature_net

    net = load_facies_feature_net()
    with_net = diversity(collapsed, a, b, net)
    assert with_net["fake"]["recall"] < with_net["floor"]["recall"]  # one image covers few real ones


def test_compare_models_takes_vaegan_and_diffusion(runs, tmp_path):
    summary = compare_models([runs["vaegan"], runs["diffusion"]], n=8, out_dir=tmp_path / "cmp", device="cpu")
    vaegan, diff = summary["runs"]
    assert "regularity" in vaegan and "reconstruction" in vaegan  # a VAE-GAN has the VAE's encoder and KL
    assert diff["sampler"] == {"sampler": "ddim", "steps": 2} and diff["realizations_per_s"] > 0
    assert diff["has_latent_code"] is False and "interpolation" not in diff["assets"]
    for r in (vaegan, diff):
        assert 0.0 <= r["metrics"]["fake"]["diversity"]["pairwise_hamming"] <= 1.0
        assert "recall" in r["metrics"]["floor"]["diversity"]
    assert "| facies-net recall / coverage (k=3) |" in (tmp_path / "cmp" / "report.md").read_text()


def test_esmda_takes_a_given_truth_and_refuses_diffusion(runs, tmp_path):
    truth = generate_channels(1, seed=5, size=SIZE, start=100)[0]
    setup = make_setup(SIZE, 0, 4, truth=truth)
    assert np.array_equal(setup.truth, truth)
    s = esmda_demo(runs["vaegan"], n_ens=8, n_assim=2, wells=4, out_dir=tmp_path / "e", device="cpu", truth=truth)
    assert s["setup"]["truth"] == "given image" and len(s["history"]) == 3
    with pytest.raises(GenlabError, match="expected \\(16, 16\\)"):
        make_setup(SIZE, 0, 4, truth=np.zeros((8, 8), np.uint8))
    with pytest.raises(GenlabError, match="0 and 1"):
        make_setup(SIZE, 0, 4, truth=np.full((SIZE, SIZE), 2, np.uint8))
    with pytest.raises(GenlabError, match="no latent code"):
        esmda_demo(runs["diffusion"], n_ens=4, n_assim=1, out_dir=tmp_path / "d", device="cpu")
    perfect = stats(setup.truth[None].astype(np.float64), setup)
    assert perfect["well_facies_match"] == 1.0 and perfect["field_accuracy_vs_truth"] == 1.0


def test_inpaint_demo_honours_every_well_of_the_esmda_truth(runs, tmp_path):
    out = tmp_path / "inp"
    s = inpaint_demo(runs["diffusion"], truth_seed=1, wells=4, n=3, out_dir=out, steps=3, jump=1, resample=2,
                     device="cpu", truth_from="held-out")
    e = esmda_demo(runs["vaegan"], truth_seed=1, wells=4, n_ens=4, n_assim=1, out_dir=tmp_path / "e", device="cpu",
                   truth_from="held-out")
    assert s["setup"]["well_cells"] == e["setup"]["well_cells"] and s["setup"]["truth"] == e["setup"]["truth"]
    assert s["wells_honoured"] == 1.0 and 0.0 <= s["wells_agreed_before_paste"] <= 1.0  # hard conditioning
    assert s["n"] == 3 and s["nfe"] > 0 and 0.0 <= s["field_accuracy_vs_truth"] <= 1.0
    assert {"inpaint.json", "inpaint.md", "inpaint.html", "inpaint-realizations.png", "inpaint-wells.png",
            "inpaint-means.png"} <= {p.name for p in out.iterdir()}
    assert "well cells honoured" in (out / "inpaint.md").read_text()
    with pytest.raises(GenlabError, match="ES-MDA"):
        inpaint_demo(runs["vaegan"], n=2, out_dir=tmp_path / "x", device="cpu")
    with pytest.raises(GenlabError, match="n = 0"):
        inpaint_demo(runs["diffusion"], n=0, out_dir=tmp_path / "x", device="cpu")


def test_well_mask_and_honoured_share_of_well_cells():
    setup = make_setup(SIZE, 0, 4)
    hole = well_mask(SIZE, setup.well_cells)
    assert hole.shape == (SIZE, SIZE) and int((~hole).sum()) == 4
    assert not hole[setup.well_cells[0, 0], setup.well_cells[0, 1]]
    members = np.repeat(setup.truth[None], 2, axis=0).astype(bool)
    assert wells_honoured(members, setup) == 1.0
    members[0, setup.well_cells[0, 0], setup.well_cells[0, 1]] ^= True  # one of 8 (member, well) pairs wrong
    assert wells_honoured(members, setup) == pytest.approx(7 / 8)


def test_cli_inpaint_prints_the_honoured_share(runs, tmp_path, capsys):
    from tests_helpers import run_cli

    code, out, err = run_cli(["channels", "inpaint", str(runs["diffusion"]), "--wells", "4", "-n", "2", "--steps", "3",
                              "--jump", "1", "--resample", "2", "--device", "cpu", "-o", str(tmp_path / "c")], capsys)
    assert code == 0, err
    assert "well cells honoured 1.000" in out and "report:" in out
    code, out, err = run_cli(["channels", "inpaint", str(runs["vaegan"]), "-n", "2", "--device", "cpu",
                              "-o", str(tmp_path / "d")], capsys)
    assert code != 0 and "ES-MDA" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _bench(name):
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_conditioning_benchmark_compares_esmda_and_inpainting(runs, tmp_path, capsys):
    mod = _bench("channels_conditioning")
    out_json, out_md = tmp_path / "c.json", tmp_path / "c.md"
    code = mod.main(["--latent", str(runs["vaegan"]), "--diffusion", str(runs["diffusion"]), "--truths", "2",
                     "--wells", "4", "--n-ens", "6", "--n-assim", "2", "--n-cond", "3", "--steps", "3", "--jump", "1",
                     "--resample", "2", "--n-real", "8", "--out-json", str(out_json), "--out-md", str(out_md),
                     "--report-dir", str(tmp_path / "grids")])
    assert code == 0
    res = json.loads(out_json.read_text())
    inp, es = res["methods"]["inpainting"], res["methods"]["esmda"]
    assert inp["mean"]["wells_honoured"] == 1.0  # hard conditioning: every well cell kept
    assert 0.0 <= inp["mean"]["wells_agreed_before_paste"] <= 1.0
    assert len(es["per_truth"]) == 2 and len(es["per_truth"][0]["history"]) == 3
    assert es["realism"]["counts"]["fake"] > 0 and inp["mean"]["cpu_s_per_realization"] > 0
    assert "Conditioning to wells" in out_md.read_text() and (tmp_path / "grids" / "inpainting-truth1.png").exists()
    capsys.readouterr()
    assert mod.main(["--truths", "1"]) == 2
    assert "give --latent" in capsys.readouterr().err


def test_compare_benchmark_counts_generation_flops_against_the_matmul_peak(runs, tmp_path):
    mod = _bench("channels_compare")
    assert mod.matmul_peak_gflops(n=128, repeats=2) > 0
    vaegan = mod.generation_flops(str(runs["vaegan"]))
    diff = mod.generation_flops(str(runs["diffusion"]))  # 2 sampler steps: every network call counts
    assert vaegan > 0 and diff > 0
    one_step = _snapshot(tmp_path, "diffusion-1", get_family("diffusion")(
        (1, SIZE, SIZE), base_channels=8, channel_mults=[1, 2], attention_resolutions=[8], num_heads=1),
        {"sampler": "ddim", "steps": 1})
    assert mod.generation_flops(str(one_step)) == pytest.approx(diff / 2, rel=0.05)
    rows = [r[1] for r in mod.row_specs([SIZE])]
    assert rows.index("matmul_peak_fraction") == rows.index("realizations_per_s") + 2


def test_train_plan_names_existing_128_presets_with_step_budgets():
    import re
    import subprocess

    script = BENCH / "channels_train_plan.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    lanes = re.findall(r"^LANE_[AB]=\(([^)]*)\)", text, flags=re.MULTILINE)
    names = [n for lane in lanes for n in lane.split()]
    assert sorted(names) == sorted(re.search(r"^ALL=\(([^)]*)\)", text, flags=re.MULTILINE).group(1).split())
    assert {"channels-sgan", "channels-vaegan", "channels-diffusion-128"} <= set(names)
    for name in names:
        cfg = resolve(name)
        assert cfg.data.options["size"] == 128 and cfg.train.max_steps > 0 and cfg.train.checkpoint_every_min > 0


def test_esmda_truth_from_the_runs_held_out_images(runs, tmp_path, capsys):
    from typer.testing import CliRunner

    from genlab.cli.main import app
    from genlab.facies.evaluation import load_run_data

    s = esmda_demo(runs["vaegan"], truth_seed=2, truth_from="held-out", n_ens=6, n_assim=1, wells=4,
                   out_dir=tmp_path / "h", device="cpu")
    assert s["setup"]["truth"] == "held-out image truth_seed"
    held = load_run_data({"dataset": "channels-procedural", "options": {"n": 40, "size": SIZE, "seed": 1}}, 3).held_out
    assert np.array_equal(held[2], generate_channels(1, 1, SIZE, start=42)[0])  # past the 40 training images
    with pytest.raises(GenlabError, match="truth_from 'model'"):
        esmda_demo(runs["vaegan"], truth_from="model", n_ens=4, n_assim=1, out_dir=tmp_path / "x", device="cpu")
    res = CliRunner().invoke(app, ["channels", "esmda", str(runs["vaegan"]), "--truth-from", "held-out", "--n-ens",
                                   "6", "--n-assim", "1", "--wells", "4", "-o", str(tmp_path / "cli"), "--device",
                                   "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cli" / "esmda.json").read_text())["setup"]["truth"] == "held-out image truth_seed"


def test_compare_benchmark_esmda_uses_held_out_truths(runs, tmp_path):
    mod = _bench("channels_compare")
    s = mod.esmda_summary(str(runs["vaegan"]), 1, 6, 1, tmp_path / "e")
    assert s["truth_from"] == "held-out" and s["n_ens"] == 6 and len(s["per_truth"][0]["history"]) == 2
