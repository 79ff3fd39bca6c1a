"""Model cards: written beside every snapshot at the end of training, rendered for any snapshot (run directory,
file or pretrained name) with data, preset, command, training length, metrics with floors and sample counts, and
intended use / limits."""

from __future__ import annotations

import json

import pytest

from genlab.checkpoints import pretrained
from genlab.config import resolve
from genlab.errors import GenlabError
from genlab.report.model_card import card_path, model_card, write_model_card
from genlab.training.loop import Trainer


@pytest.fixture(scope="module")
def run(tiny_data_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("card") / "run"
    cfg = resolve("mnist-vae", [f"data.data_dir={tiny_data_dir}", f"run_dir={run_dir}", "data.download=false",
                                "train.batch_size=16", "train.max_steps=4", "train.epoch_images=32",
                                "train.precision=fp32", "train.threads=1", "sample.num_images=4", "data.limit=64",
                                "model.base_channels=8", "model.latent_dim=4"])
    Trainer(cfg, progress=False).run()
    return run_dir


def test_training_writes_a_card_beside_every_snapshot(run):
    snapshots = [run / "snapshot.safetensors", *sorted((run / "snapshots").glob("*.safetensors"))]
    assert len(snapshots) == 3
    for snap in snapshots:
        assert card_path(snap).is_file(), snap
    card = card_path(run / "snapshot.safetensors").read_text()
    for words in ("# Model card: run", "`vae`", "dataset: `mnist`", "a subset of 64 images", "optimiser steps: 4",
                  "images seen: 64", "preset / run name: `mnist-vae`", "command: `", "## Intended use", "## Limits",
                  "Not measured yet", "M parameters", "sampling options: temperature", "latent: a code",
                  "conditional: no"):
        assert words in card, words
    assert "epoch-0001" in card_path(run / "snapshots" / "epoch-0001.safetensors").read_text()


def test_card_picks_up_evaluate_metrics_with_floor_and_sample_count(run):
    row = {"snapshot": str(run / "snapshot.safetensors"), "epoch": "final", "fid": 12.5, "kid_mean": 0.01,
           "is_mean": 7.25, "precision": 0.61, "recall": 0.42, "num_fake": 300,
           "floor": {"fid": 1.5, "kid_mean": 0.0004, "precision": 0.7, "recall": 0.71, "sampling": "class-matched"}}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    card = model_card(run)
    assert "on 300 samples" in card
    assert "| FID | 12.5 | 1.5 |" in card and "| recall | 0.42 | 0.71 |" in card
    assert "class-matched draw" in card
    out = write_model_card(run / "snapshot.safetensors")
    assert out.read_text() == card


def test_pretrained_cards_come_from_the_manifest():
    for name, entry in pretrained.manifest().items():
        card = model_card(name)
        assert f"# Model card: {name}" in card and entry["command"] in card and "M parameters" in card
        if isinstance(entry.get("metrics"), dict) and "fid" in entry["metrics"]:
            assert "| FID |" in card and f"on {entry['metrics']['samples']} samples" in card


def test_unknown_source_is_one_line(tmp_path):
    with pytest.raises(GenlabError) as err:
        model_card(tmp_path / "nothing-here")
    assert "\n" not in str(err.value) and "pretrained name" in str(err.value)
