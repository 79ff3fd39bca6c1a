"""The fine-tuning script and the model files (gym/.venv-vision: torch): a tiny real training run, safetensors +
JSON round trip, one-line errors for bad data, bad options and a config that does not fit the code."""

from __future__ import annotations

import json
import subprocess

from test_vision_mediapipe import vision_python


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([vision_python(), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_training_saves_a_loadable_model_with_validation_metrics(tmp_path):
    out = tmp_path / "model"
    data = tmp_path / "windows.npz"
    trained = run("-m", "gymchain.vision.train", "--out", str(out), "--sequences", "8", "--epochs", "1",
                  "--save-data", str(data))
    assert trained.returncode == 0, trained.stderr[-2000:]
    metrics = json.loads(trained.stdout)
    assert metrics["windows"] > 0 and metrics["train_windows"] > metrics["windows"]
    assert set(metrics["errors"]) == {"depth", "knee_valgus", "back", "lockout", "tempo"}
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json"}
    again = run("-m", "gymchain.vision.train", "--out", str(tmp_path / "again"), "--data", str(data), "--epochs",
                "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["train_windows"] == metrics["train_windows"]  # same data, same split
    check = run("-c", "import sys, numpy as np; from pathlib import Path; from gymchain.vision import model, "
                "dataset; m = model.load(Path(sys.argv[1])); d = dataset.load(Path(sys.argv[2])); "
                "p = model.predict(m, d['x'][:5]); print(p['exercise'].shape, p['errors'].shape, "
                "bool(np.allclose(p['exercise'].sum(1), 1)))", str(out), str(data))
    assert check.stdout.strip() == "(5, 4) (5, 5) True", check.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    config["errors"] = ["depth"]
    (out / "config.json").write_text(json.dumps(config))
    refused = run("-c", "import sys; from pathlib import Path; from gymchain.vision import model\n"
                  "try:\n    model.load(Path(sys.argv[1]))\nexcept ValueError as e:\n    print(e)", str(out))
    assert refused.stdout.strip().endswith("config.json: labels or feature size differ from this code's "
                                           "(retrain the model)")


def test_training_refuses_bad_input_in_one_line(tmp_path):
    bad = tmp_path / "windows.npz"
    bad.write_text("not numpy")
    answer = run("-m", "gymchain.vision.train", "--out", str(tmp_path / "m"), "--data", str(bad))
    assert answer.returncode == 2 and "windows.npz: not a readable .npz dataset" in answer.stderr.splitlines()[-1]
    answer = run("-m", "gymchain.vision.train", "--out", str(tmp_path / "m"), "--epochs", "0")
    assert answer.returncode == 2 and answer.stderr.splitlines()[-1].endswith("--epochs 0: expected 1 to 500")
    assert not (tmp_path / "m").exists()
