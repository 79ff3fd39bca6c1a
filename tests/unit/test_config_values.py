"""Config values outside their range are refused at resolve time, in one line naming the key, value and range."""

from __future__ import annotations

import pytest

from genlab.config import preset_names, resolve
from genlab.config.core import VALUE_RULES, RunConfig, check_value
from genlab.errors import GenlabError


@pytest.mark.parametrize(("override", "expected"), [
    ("train.lr=-1", "finite number > 0"),
    ("train.lr=nan", "finite number > 0"),
    ("train.lr=.inf", "finite number > 0"),
    ("train.lr=0", "finite number > 0"),
    ("data.limit=-1", "≥ 0"),
    ("train.ema_decay=2", "[0, 1)"),
    ("train.ema_decay=1", "[0, 1)"),
    ("train.batch_size=0", "≥ 1"),
    ("train.epochs=-1", "≥ 0"),
    ("train.threads=-2", "≥ 0"),
    ("train.warmup_steps=-5", "≥ 0"),
    ("train.accum_steps=0", "≥ 1"),
    ("train.grad_clip=-1", "≥ 0"),
    ("train.weight_decay=nan", "≥ 0"),
    ("train.betas=[0.9,1.5]", "two numbers in [0, 1)"),
    ("train.seed=-3", "[0, 4294967295]"),
    ("train.log_every=0", "≥ 1"),
    ("train.keep_last=0", "≥ 1"),
    ("train.checkpoint_every_min=0", "> 0"),
    ("train.precision=fp8", "auto, fp32, bf16, fp16"),
    ("data.classes=[1,-2]", "class indices"),
    ("sample.steps=0", "≥ 1"),
    ("sample.num_images=-4", "≥ 1"),
    ("sample.guidance=-1", "≥ 0"),
    ("sample.guidance_interval=5,1", "0 <= LO < HI"),
])
def test_out_of_range_values_are_refused(override, expected):
    key, value = override.split("=")
    with pytest.raises(GenlabError) as err:
        resolve("mnist-vae", [override])
    msg = str(err.value)
    assert "\n" not in msg and key in msg and expected in msg, msg
    assert value.lstrip(".") in msg.lower().replace(" ", ""), msg


def test_values_in_range_pass_and_every_preset_resolves():
    cfg = resolve("mnist-vae", ["train.lr=1e-3", "train.ema_decay=0", "data.limit=0", "train.threads=1",
                                "train.epochs=0.5", "train.betas=[0.5,0.9]", "sample.guidance_interval=0.3,5"])
    assert cfg.train.lr == 1e-3 and cfg.train.ema_decay == 0.0 and cfg.train.betas == [0.5, 0.9]
    assert cfg.sample.guidance_interval == "0.3,5"
    for name in preset_names():
        resolve(name)


def test_defaults_satisfy_their_rules():
    cfg = RunConfig()
    for key in VALUE_RULES:
        section, name = key.split(".")
        check_value(key, getattr(getattr(cfg, section), name))


def test_yaml_values_are_checked_too(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: mnist-vae\ntrain:\n  ema_decay: 1.5\n")
    with pytest.raises(GenlabError, match=r"train.ema_decay' = 1.5 is out of range"):
        resolve(str(path))
