"""CLI smoke and bad-input tests: `genlab` prints one line and exits non-zero on user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests_helpers import TINY, run_cli

SRC = Path(__file__).resolve().parents[2] / "src"


def tiny_args(data_dir: Path, run_dir: Path) -> list[str]:
    return ["mnist-diffusion-quick", f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false",
            "train.batch_size=16", "train.max_steps=4", "train.epoch_images=32", "train.log_every=2",
            "sample.num_images=10", "sample.steps=2", *TINY]


def test_train_then_sample(tiny_data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(["train", *tiny_args(tiny_data_dir, run), "--quiet"], capsys)
    assert code == 0, err
    assert "snapshot" in out and (run / "snapshot.safetensors").is_file()
    grid = tmp_path / "grid.png"
    code, out, err = run_cli(["sample", str(run), "-n", "12", "--sampler", "ddim", "--steps", "3", "--class", "3",
                              "--guidance", "2", "-o", str(grid)], capsys)
    assert code == 0, err
    assert grid.is_file() and grid.stat().st_size > 100
    code, out, _ = run_cli(["info", str(run), "--json"], capsys)
    assert code == 0 and json.loads(out)["family"] == "diffusion"


def test_dry_run_prints_resolved_config(capsys):
    code, out, _ = run_cli(["train", "mnist-diffusion-quick", "train.lr=0.01", "--dry-run"], capsys)
    assert code == 0 and json.loads(out)["train"]["lr"] == 0.01


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "mnist-diffusion-quick", "train.lrr=1"], "did you mean 'train.lr'"),
        (["train", "no-such-preset"], "unknown preset"),
        (["sample", "missing-dir-or-name"], "not a snapshot file, a run directory or a pretrained name"),
        (["sample", "x", "--steps", "0"], "steps"),
    ],
)
def test_user_mistakes_are_one_line(args, message, capsys):
    code, _out, err = run_cli(args, capsys)
    assert code != 0
    assert message in err
    assert "Traceback" not in err


def test_missing_data_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["train", "mnist-diffusion-quick", f"data.data_dir={tmp_path}", "data.download=false",
                            f"run_dir={tmp_path / 'r'}"], capsys)
    assert code == 2 and "train-images-idx3-ubyte" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_sample_wrong_label_for_class_count(tiny_data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(["train", *tiny_args(tiny_data_dir, run), "--quiet"], capsys)[0] == 0
    code, _, err = run_cli(["sample", str(run), "--class", "12", "-o", str(tmp_path / "g.png")], capsys)
    assert code == 2 and "class label must be in 0..9" in err


def test_help_on_every_command():
    for cmd in ([], ["train"], ["sample"], ["presets"], ["info"]):
        out = subprocess.run([sys.executable, "-m", "genlab", *cmd, "--help"], capture_output=True, text=True,
                             env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "GENLAB_MALLOC": "default"},
                             timeout=60, check=False)
        assert out.returncode == 0 and "Usage" in out.stdout
