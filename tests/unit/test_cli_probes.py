"""The CLI probes of issue 12: each bad option is one line on stderr and a non-zero exit, found BEFORE any
generation (genlab.api.load is replaced by a function that fails the test if it is reached); names mean one thing in
every command; help says `genlab` and shows flags as typed; --threads, JPEG output and the one guidance default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlab import api
from tests_helpers import run_cli, save_tiny_diffusion

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Untrained tiny snapshots: a conditional diffusion model whose run config samples with guidance 2 (like the
    presets), and an unconditional DCGAN."""
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec
    from genlab.models.registry import get_family

    root = tmp_path_factory.mktemp("cli-probes")
    diffusion = save_tiny_diffusion(root / "diffusion.safetensors")
    sample = {"num_images": 8, "seed": 0, "sampler": "ddim", "steps": 2, "guidance": 2.0}
    guided = root / "guided.safetensors"
    torch.manual_seed(0)
    model = get_family("diffusion")((1, 28, 28), num_classes=10, base_channels=8, channel_mults=[1, 2],
                                    attention_resolutions=[14], num_heads=1)
    save_snapshot(guided, model, ImageCodec(1, 28, 28).state(),
                  extra={"config": {"data": {"dataset": "mnist"}, "sample": sample}, "step": 1})
    gan = get_family("dcgan")((1, 28, 28), base_channels=4, max_channels=16, latent_dim=8)
    save_snapshot(root / "gan.safetensors", gan, ImageCodec(1, 28, 28).state(), extra={"step": 1})
    return {"diffusion": diffusion, "guided": guided, "gan": root / "gan.safetensors", "root": root}


@pytest.fixture
def no_generation(monkeypatch):
    """Loading a model (the start of every long piece of work) fails the test: the probe must stop before it."""
    def reached(*_a, **_k):
        raise AssertionError("the command started loading/generating before checking its options")

    monkeypatch.setattr(api, "load", reached)


def one_line_error(code: int, err: str) -> str:
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("output, message", [
    ("missing-dir/grid.png", "directory"),  # a folder that does not exist
    (".", "is a directory"),  # an existing directory
    ("grid.gif", "unsupported file type '.gif'"),
])
def test_bad_output_paths_are_refused_before_generating(tiny, tmp_path, capsys, no_generation, output, message):
    target = tmp_path / output if output != "." else tmp_path
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "-n", "4", "-o", str(target)], capsys)
    assert message in one_line_error(code, err)


def test_output_under_a_file_is_refused(tiny, tmp_path, capsys, no_generation):
    (tmp_path / "plain-file").write_text("x")
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "-o", str(tmp_path / "plain-file" / "g.png")], capsys)
    assert "is not a directory" in one_line_error(code, err)


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**31)], "0..2147483647"),
    (["--seed", str(2**31 - 2), "-n", "4"], "exceeds 2147483647"),
    (["--nrow", "-3"], "--nrow"),
    (["--threads", "0"], "--threads"),
    (["--guidance-interval", "5,0.3"], "--guidance-interval '5,0.3': expected 0 <= LO < HI"),
    (["--guidance-interval", "x"], "--guidance-interval 'x': expected two noise levels"),
])
def test_out_of_range_options_are_one_line(tiny, tmp_path, capsys, no_generation, args, message):
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "-o", str(tmp_path / "g.png"), *args], capsys)
    line = one_line_error(code, err)
    assert message in line and "Usage:" not in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(tiny, tmp_path, capsys, no_generation):
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "--device", "cuda", "-o", str(tmp_path / "g.png")],
                           capsys)
    assert "cuda" in one_line_error(code, err).lower()


@pytest.mark.parametrize("option", [["--steps", "5"], ["--guidance", "3"], ["--sampler", "ddim"], ["--eta", "0.5"],
                                    ["--guidance-interval", "0.3,5"]])
def test_options_a_gan_does_not_take_are_refused_not_dropped(tiny, tmp_path, capsys, no_generation, option):
    code, _, err = run_cli(["sample", str(tiny["gan"]), "-o", str(tmp_path / "g.png"), *option], capsys)
    assert f"{option[0]}: the dcgan family does not take it" in one_line_error(code, err)


def test_jpeg_output_is_a_real_jpeg_and_png_stays_png(tiny, tmp_path, capsys):
    for name, magic in (("grid.jpg", b"\xff\xd8\xff"), ("grid.png", b"\x89PNG")):
        out = tmp_path / name
        code, _, err = run_cli(["sample", str(tiny["gan"]), "-n", "4", "-o", str(out), "-q"], capsys)
        assert code == 0, err
        assert out.read_bytes()[:len(magic)] == magic


def test_guidance_defaults_to_the_snapshots_own_sample_settings(tiny, tmp_path, capsys, monkeypatch):
    seen = {}
    real_load = api.load

    def spy_load(*a, **k):
        gen = real_load(*a, **k)
        real_generate = gen.generate

        def generate(*ga, **gk):
            seen.update(gk)
            return real_generate(*ga, **gk)

        gen.generate = generate
        return gen

    monkeypatch.setattr(api, "load", spy_load)
    code, out, err = run_cli(["sample", str(tiny["guided"]), "-n", "2", "-o", str(tmp_path / "g.png"), "-q",
                              "--threads", "1"], capsys)
    assert code == 0, err
    assert seen["guidance"] == 2.0 and seen["steps"] == 2 and seen["sampler"] == "ddim"  # the run's sample settings
    assert "guidance 2.0" in out
    code, out, err = run_cli(["sample", str(tiny["guided"]), "-n", "2", "-o", str(tmp_path / "g.png"), "-q",
                              "--guidance", "1"], capsys)
    assert code == 0 and seen["guidance"] == 1.0  # an explicit value wins
    code, out, err = run_cli(["sample", str(tiny["guided"]), "-n", "2", "-o", str(tmp_path / "g.png"), "-q",
                              "--guidance-interval", "0.3,5"], capsys)
    assert code == 0 and seen["guidance_interval"] == (0.3, 5.0), err


def test_sample_shows_progress_for_small_requests(tiny, tmp_path, capsys):
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "-n", "2", "--steps", "3", "--sampler", "ddim",
                            "-o", str(tmp_path / "g.png")], capsys)
    assert code == 0 and "sampling 2 images" in err and "3/3" in err  # per sampler step, even for 2 images


def test_usage_errors_are_one_line_naming_genlab(capsys):
    code, _, err = run_cli(["sample", "x", "--steps", "0"], capsys)
    line = one_line_error(code, err)
    assert line.startswith("genlab sample: error:") and "--steps" in line and "python -m" not in line


def test_help_says_genlab_and_shows_flags_as_typed():
    for cmd in (["sample"], ["train"], ["evaluate"], ["latent", "anomaly"], ["info"]):
        out = subprocess.run([sys.executable, "-m", "genlab", *cmd, "--help"], capture_output=True, text=True,
                             env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "GENLAB_MALLOC": "default"},
                             timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        assert f"Usage: genlab {' '.join(cmd)}" in out.stdout
        assert "python -m genlab" not in out.stdout and "<bool>" not in out.stdout


def test_sample_and_evaluate_take_threads(capsys):
    for cmd in ("sample", "evaluate"):
        code, out, _ = run_cli([cmd, "--help"], capsys)
        assert code == 0 and "--threads N" in out


def test_presets_lists_pretrained_snapshots_marked(capsys):
    code, out, _ = run_cli(["presets"], capsys)
    assert code == 0
    for name in api.pretrained_manifest():
        assert any(line.split()[:1] == [name] and "[pretrained]" in line for line in out.splitlines()), name
    assert any(line.split()[:1] == ["mnist-diffusion-quick"] for line in out.splitlines())


def test_info_is_human_readable_by_default_and_json_on_request(tiny, capsys):
    code, out, err = run_cli(["info", str(tiny["guided"])], capsys)
    assert code == 0, err
    assert not out.lstrip().startswith("{") and "# Model card" in out  # the model card, not JSON
    assert "`diffusion`" in out and "`mnist`" in out and "parameters" in out  # family, dataset, size
    assert "sampling options: sampler, steps, guidance, eta" in out  # the capabilities
    code, out, _ = run_cli(["info", str(tiny["guided"]), "--json"], capsys)
    assert code == 0 and json.loads(out)["family"] == "diffusion"
    code, _, err = run_cli(["info", "no-such-snapshot"], capsys)
    line = one_line_error(code, err)
    assert "'no-such-snapshot'" in line and "pretrained name" in line


def test_export_writes_a_checked_onnx_file_and_checks_its_path_first(tiny, tmp_path, capsys, no_generation):
    pytest.importorskip("onnxruntime")
    code, _, err = run_cli(["export", str(tiny["gan"]), "-o", str(tmp_path / "model.txt")], capsys)
    assert "unsupported file type '.txt'" in one_line_error(code, err)
    code, _, err = run_cli(["export", str(tiny["gan"]), "-o", str(tmp_path / "no-dir" / "m.onnx")], capsys)
    assert "does not exist" in one_line_error(code, err)


def test_export_onnx(tiny, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "gan.onnx"
    code, stdout, err = run_cli(["export", str(tiny["gan"]), "-o", str(out)], capsys)
    assert code == 0, err
    assert out.is_file() and out.stat().st_size > 1000
    assert "dcgan sampling network" in stdout and "onnxruntime matches PyTorch" in stdout


def test_a_pretrained_name_means_the_snapshot_in_latent_anomaly(capsys, monkeypatch):
    """`mnist-vae` is both a preset and a pretrained name: as a SOURCE it is the shipped snapshot (never a training
    run), and the missing-classes error names the real flag."""
    if "mnist-vae" not in api.pretrained_manifest():
        pytest.skip("this installation ships no mnist-vae snapshot")

    def no_training(*_a, **_k):
        raise AssertionError("a pretrained name started a training run")

    monkeypatch.setattr(api, "train", no_training)
    code, _, err = run_cli(["latent", "anomaly", "mnist-vae"], capsys)
    assert "--normal" in one_line_error(code, err) and "normal_classes" not in err


def test_latent_interpolate_all_classes_keeps_one_class_per_strip(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    snap = save_tiny_diffusion(tmp_path / "three.safetensors", num_classes=3)
    every = tmp_path / "every.png"
    code, out, err = run_cli(["latent", "interpolate", str(snap), "--seed-a", "4", "--seed-b", "9", "--steps", "3",
                              "-o", str(every)], capsys)
    assert code == 0, err
    assert "one strip per class 0..2" in out
    grid = np.asarray(Image.open(every))
    cell = (28 + 2) * 2  # 28-px images, 2-px padding, written at scale 2
    assert grid.shape[0] == 3 * cell + 4
    for k in range(3):
        one = tmp_path / f"class{k}.png"
        assert run_cli(["latent", "interpolate", str(snap), "--seed-a", "4", "--seed-b", "9", "--steps", "3",
                        "--class", str(k), "-o", str(one)], capsys)[0] == 0
        strip = np.asarray(Image.open(one))
        assert np.array_equal(grid[k * cell: k * cell + strip.shape[0]], strip)  # row k is the class-k strip


def test_report_takes_any_snapshot_source_not_only_run_directories(tiny, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, _, err = run_cli(["report", str(tiny["gan"]), "-o", str(out)], capsys)
    assert code == 0, err
    assert out.is_file() and "dcgan" in out.read_text()
    code, _, err = run_cli(["report", str(tiny["gan"]), "-o", str(tmp_path / "no-dir" / "r.html")], capsys)
    assert "does not exist" in one_line_error(code, err)


def test_unknown_sampler_is_refused_before_loading(tiny, tmp_path, capsys, no_generation):
    code, _, err = run_cli(["sample", str(tiny["diffusion"]), "--sampler", "no-such", "-o", str(tmp_path / "g.png")],
                           capsys)
    assert "--sampler no-such: expected one of" in one_line_error(code, err)


def test_evaluate_takes_temperature_for_latent_families_and_refuses_it_for_diffusion(tiny, capsys, monkeypatch,
                                                                                       no_generation):
    code, _, err = run_cli(["evaluate", str(tiny["diffusion"]), "-n", "10", "--temperature", "0.5"], capsys)
    assert "--temperature: the diffusion family does not take it" in one_line_error(code, err)
    seen = {}

    def spy_evaluate(source, n, **options):
        seen.update(options)
        raise api.GenlabError("stop here: the options were seen")

    monkeypatch.setattr(api, "evaluate", spy_evaluate)
    code, _, err = run_cli(["evaluate", str(tiny["gan"]), "-n", "10", "--temperature", "0.5", "-q"], capsys)
    assert "stop here" in one_line_error(code, err) and seen["temperature"] == 0.5


def test_autoguide_takes_a_snapshot_checks_it_and_none_turns_it_off(tiny, tmp_path, capsys):
    """--autoguide SNAPSHOT: guidance pulls away from that model (Karras et al. 2024). Guided by itself, the pull is
    zero, so any w gives the plain conditional images; a model that cannot guide (other classes) is one line."""
    gen = api.load(tiny["guided"], device="cpu")
    plain = gen.generate(4, guidance=1.0, steps=2)
    assert torch.equal(gen.generate(4, guidance=3.0, steps=2, autoguide=str(tiny["guided"])), plain)
    assert torch.equal(gen.generate(4, guidance=1.0, steps=2, autoguide="none"), plain)
    out = tmp_path / "g.png"
    unconditional = save_tiny_diffusion(tmp_path / "unconditional.safetensors", num_classes=0)
    code, _, err = run_cli(["sample", str(tiny["guided"]), "-n", "2", "-o", str(out), "-q",
                            "--autoguide", str(unconditional)], capsys)
    assert "autoguide: the guiding model's classes is 0, this model's 10" in one_line_error(code, err)
    code, _, err = run_cli(["sample", str(tiny["guided"]), "-n", "2", "-o", str(out), "-q", "--autoguide",
                            str(tiny["guided"])], capsys)
    assert code == 0 and out.is_file(), err
    code, _, err = run_cli(["sample", str(tiny["gan"]), "-n", "2", "-o", str(out), "--autoguide", "x"], capsys)
    assert "--autoguide: the dcgan family does not take it" in one_line_error(code, err)
