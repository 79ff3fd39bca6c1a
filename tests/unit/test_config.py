"""Config: presets, overrides (names and types checked), YAML files, round trip."""

from __future__ import annotations

import pytest

from genlab.config import config_from_dict, resolve
from genlab.errors import GenlabError


def test_preset_resolves_with_family_model_config():
    cfg = resolve("mnist-diffusion-quick")
    assert cfg.family == "diffusion"
    assert cfg.model.base_channels == 24
    assert cfg.data.dataset == "mnist" and cfg.data.conditional
    assert cfg.resolved_run_dir().as_posix() == "runs/mnist-diffusion-quick"


def test_overrides_are_typed():
    cfg = resolve("mnist-diffusion-quick", ["train.lr=3e-4", "train.batch_size=64", "model.channel_mults=[1,2]",
                                            "train.epochs=2", "data.conditional=false"])
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert cfg.train.batch_size == 64
    assert cfg.model.channel_mults == [1, 2]
    assert cfg.train.epochs == 2.0 and isinstance(cfg.train.epochs, float)
    assert cfg.data.conditional is False


def test_typo_names_closest_key():
    with pytest.raises(GenlabError, match="did you mean 'train.batch_size'"):
        resolve("mnist-diffusion-quick", ["train.batch_sise=3"])
    with pytest.raises(GenlabError, match="model.base_channels"):
        resolve("mnist-diffusion-quick", ["model.base_chanels=3"])


def test_wrong_type_and_bad_syntax():
    with pytest.raises(GenlabError, match="expects int"):
        resolve("mnist-diffusion-quick", ["train.batch_size=abc"])
    with pytest.raises(GenlabError, match="key=value"):
        resolve("mnist-diffusion-quick", ["train.lr"])
    with pytest.raises(GenlabError, match="unknown preset 'mnist-difusion-quick'.*did you mean"):
        resolve("mnist-difusion-quick")


def test_yaml_file_with_base_preset(tmp_path):
    p = tmp_path / "my.yaml"
    p.write_text("preset: mnist-diffusion-quick\ntrain:\n  lr: 0.01\nmodel:\n  base_channels: 16\n")
    cfg = resolve(str(p), ["train.seed=3"])
    assert cfg.name == "my" and cfg.train.lr == 0.01 and cfg.model.base_channels == 16 and cfg.train.seed == 3


def test_bad_yaml_is_one_line_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("train: [unclosed\n")
    with pytest.raises(GenlabError, match="bad.yaml: not valid YAML"):
        resolve(str(p))
    with pytest.raises(GenlabError, match="config file not found"):
        resolve(str(tmp_path / "missing.yaml"))


def test_round_trip_through_dict():
    cfg = resolve("mnist-diffusion-quick", ["train.lr=1e-4"])
    again = config_from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
