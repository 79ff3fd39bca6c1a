"""train.init_from (issue 17): a new run starts from another snapshot's weights — model and EMA, not the optimiser —
for any family; a different architecture is refused in one line naming the first mismatching tensor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlab import api
from genlab.checkpoints.snapshot import read_tensors
from genlab.errors import GenlabError
from genlab.training.loop import Trainer

TINY_VAE = ["model.base_channels=8", "model.latent_dim=4"]


def tiny(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
            "train.max_steps=4", "train.epoch_images=1000", "train.log_every=2", "train.warmup_steps=1",
            "train.precision=fp32", "sample.num_images=4", *TINY_VAE, *extra]


@pytest.fixture(scope="module")
def source_run(tiny_data_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("src") / "run"
    api.train("mnist-vae", tiny(tiny_data_dir, run), progress=False)
    return run


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a)


def test_warm_start_from_a_snapshot_has_its_weights_at_step_0_and_trains(tiny_data_dir, tmp_path, source_run):
    snap = source_run / "snapshot.safetensors"
    cfg = api.resolve_config("mnist-vae", tiny(tiny_data_dir, tmp_path / "warm", f"train.init_from={snap}",
                                                "train.seed=7"))
    trainer = Trainer(cfg, progress=False)
    saved = read_tensors(snap)
    assert trainer.init_source == str(snap) and trainer.step == 0
    assert _same(trainer.model.state_dict(), saved) and _same(trainer.ema.model.state_dict(), saved)
    fresh = Trainer(api.resolve_config("mnist-vae", tiny(tiny_data_dir, tmp_path / "cold", "train.seed=7")),
                    progress=False)
    assert not _same(fresh.model.state_dict(), saved)  # without the option the weights are the fresh ones
    result = trainer.run()
    assert result.step == 4
    trained = trainer.model.state_dict()
    assert not _same(trained, saved) and all(torch.isfinite(v).all() for v in trained.values())
    assert api.load(result.snapshot).header["config"]["train"]["init_from"] == str(snap)


def test_warm_start_from_a_run_directory_takes_raw_and_ema_weights(tiny_data_dir, tmp_path, source_run):
    """A run directory with a training state gives the raw weights to the model and the EMA's to the EMA."""
    from genlab.checkpoints.state import load_state, state_paths

    state = load_state(state_paths(source_run)[-1])
    cfg = api.resolve_config("mnist-vae", tiny(tiny_data_dir, tmp_path / "warm", f"train.init_from={source_run}"))
    trainer = Trainer(cfg, progress=False)
    assert _same(trainer.model.state_dict(), state["model"]) and _same(trainer.ema.model.state_dict(), state["ema"])
    assert not _same(state["model"], state["ema"])  # the two really are different weights


def test_resuming_a_warm_started_run_does_not_read_the_source_again(tiny_data_dir, tmp_path, source_run):
    run = tmp_path / "warm"
    args = tiny(tiny_data_dir, run, f"train.init_from={source_run / 'snapshot.safetensors'}")
    api.train("mnist-vae", args, progress=False)
    resumed = Trainer(api.resolve_config("mnist-vae", [*args, "train.max_steps=6"]), progress=False)
    assert resumed.init_source is None  # the run's own state wins
    assert resumed.run().step == 6


@pytest.mark.parametrize("override, needle", [
    (["model.base_channels=16"], "in the source,"),  # same tensors, other shapes
    (["model.latent_dim=8"], "in the source,"),
    (["model.norm=batch"], "the source has no"),  # other tensors (BatchNorm running statistics)
])
def test_a_mismatched_architecture_is_refused_in_one_line(tiny_data_dir, tmp_path, source_run, override, needle):
    cfg = api.resolve_config("mnist-vae", [*tiny(tiny_data_dir, tmp_path / "bad", f"train.init_from={source_run}"),
                                           *override])
    with pytest.raises(GenlabError) as err:
        Trainer(cfg, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg and "train.init_from=" in msg
    name = msg.split("'")[1]  # the first mismatching tensor, with both shapes
    shapes = read_tensors(source_run / "snapshot.safetensors")
    assert (name in shapes and str(tuple(shapes[name].shape)) in msg) or (name not in shapes and needle != "in the source,")


def test_another_family_or_a_missing_source_is_refused(tiny_data_dir, tmp_path, source_run):
    cfg = api.resolve_config("mnist-ae", [*tiny(tiny_data_dir, tmp_path / "ae",
                                                f"train.init_from={source_run / 'snapshot.safetensors'}")])
    with pytest.raises(GenlabError, match="holds a 'vae' model; this run trains 'ae'"):
        Trainer(cfg, progress=False)
    cfg = api.resolve_config("mnist-vae", tiny(tiny_data_dir, tmp_path / "x", f"train.init_from={tmp_path}/nope"))
    with pytest.raises(GenlabError, match="train.init_from"):
        Trainer(cfg, progress=False)


def test_an_explicit_initialisation_beside_a_warm_start_is_refused_in_one_line(tiny_data_dir, tmp_path, source_run):
    cfg = api.resolve_config("mnist-vae", tiny(tiny_data_dir, tmp_path / "x", "train.init=xavier",
                                               f"train.init_from={source_run}"))
    with pytest.raises(GenlabError, match=r"train.init=xavier and train.init_from=.*set only one of them") as err:
        Trainer(cfg, progress=False)
    assert "\n" not in str(err.value)


def test_cli_train_with_init_from(tiny_data_dir, tmp_path, source_run):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "cli"
    ok = subprocess.run([sys.executable, "-m", "genlab", "train", "mnist-vae", "-q",
                         *tiny(tiny_data_dir, run, f"train.init_from={source_run}", "train.max_steps=2")],
                        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "done: step 2" in ok.stdout and (run / "snapshot.safetensors").is_file()
    bad = subprocess.run([sys.executable, "-m", "genlab", "train", "mnist-vae", "-q",
                          *tiny(tiny_data_dir, tmp_path / "clibad", f"train.init_from={source_run}",
                                "model.base_channels=16")], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "train.init_from=" in bad.stderr and "in the source," in bad.stderr


def test_vocoder_warm_start_from_the_shipped_snapshot_lists_changed_options_and_refuses_a_new_phase_mode():
    """The next vocoder training: musdb-vocos's weights with the group-delay loss on (a listed option change); the
    same-shaped 'accumulated' head would read the absolute-phase weights as phase advances: refused in one line."""
    import dataclasses

    from genlab.models.registry import get_family
    from genlab.training.ema import EMA
    from genlab.training.init_from import init_from

    def build(*overrides: str):
        cfg = api.resolve_config("musdb-vocos", list(overrides))
        return get_family("vocos")(image_shape=(1, 1, 16384), **dataclasses.asdict(cfg.model))

    model = build("model.lambda_group_delay=2.0")
    ema = EMA(model, 0.995)
    where, changes = init_from("musdb-vocos", "vocos", model, ema.model)
    assert _same(model.state_dict(), read_tensors(where)) and _same(ema.model.state_dict(), read_tensors(where))
    assert changes == [("lambda_group_delay", 0.0, 2.0)]
    with pytest.raises(GenlabError) as err:
        init_from("musdb-vocos", "vocos", build("model.phase_mode=accumulated"), None)
    assert "\n" not in str(err.value) and "model.phase_mode is 'absolute' in the source, 'accumulated'" in str(err.value)
