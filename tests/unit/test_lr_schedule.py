"""train.lr_schedule: linear warm-up, then constant or a half cosine to 0 at the last step."""

import itertools
import math

import pytest

from genlab.config import presets
from genlab.errors import GenlabError
from genlab.training.loop import lr_factor


def test_warmup_then_constant():
    assert [lr_factor(s, warm=4, total=100) for s in (0, 1, 3, 50, 99)] == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_cosine_decays_to_zero_at_the_last_step():
    f = [lr_factor(s, warm=10, total=110, schedule="cosine") for s in range(120)]
    assert f[0] == pytest.approx(0.1) and f[10] == pytest.approx(1.0)
    assert f[60] == pytest.approx(0.5)  # halfway through the decay
    assert f[35] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
    assert f[110] == 0.0 and f[119] == 0.0
    assert all(a >= b for a, b in itertools.pairwise(f[10:]))  # monotone after the warm-up


def test_config_accepts_cosine_and_refuses_other_names():
    cfg = presets.resolve("mnist-diffusion-quick", ["train.lr_schedule=cosine"])
    assert cfg.train.lr_schedule == "cosine"
    with pytest.raises(GenlabError, match="train.lr_schedule"):
        presets.resolve("mnist-diffusion-quick", ["train.lr_schedule=linear"])
