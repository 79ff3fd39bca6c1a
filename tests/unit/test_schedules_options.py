"""train.lr_schedule (constant / cosine / plateau), train.init (default / xavier / kaiming / orthogonal) and the
perceptual loss option: each changes what it should (the learning rate of every step, the weight statistics, the
loss), is resumable where it has state, and a bad value is a one-line error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from genlab import api
from genlab.errors import GenlabError
from genlab.metrics.perceptual import attach_perceptual
from genlab.models.registry import get_family
from genlab.training.loop import Trainer
from genlab.training.schedules import Plateau, init_weights, lr_factor

AE_TINY = ["model.base_channels=8", "model.latent_dim=4"]


def overrides(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"data.data_dir={data_dir}", f"run_dir={run_dir}", "data.download=false", "train.batch_size=16",
            "train.max_steps=12", "train.epoch_images=10000", "train.warmup_steps=2", "train.precision=fp32",
            "train.ema_decay=0", "train.lr=0.01", "sample.num_images=4", *AE_TINY, *extra]


def step_lrs(trainer: Trainer, steps: int, losses: list[float] | None = None) -> list[float]:
    """The learning rate each optimiser step used; `losses` replaces the model's loss (to script a plateau)."""
    out = []
    for i in range(steps):
        out.append(trainer.optimizers["model"].param_groups[0]["lr"])
        if losses is not None:
            loss = losses[i]
            original = trainer.model.forward
            trainer.ddp = lambda phase, x, y, _f=original, _l=loss: (_f(phase, x, y)[0] * 0 + _l, {})
        trainer.train_step(*trainer.next_batch())
        trainer.images_seen += 16
    return out


def test_plateau_window_logic():
    p = Plateau(patience=2, factor=0.5, threshold=0.1)
    for loss in (1.0, 1.0):  # first window: the best
        p.observe(loss)
    assert p.scale == 1.0 and p.best == 1.0
    for loss in (0.95, 0.95):  # 5 % better: below the 10 % threshold → a plateau
        p.observe(loss)
    assert p.scale == 0.5 and p.reductions == 1
    for loss in (0.5, 0.5):  # a real improvement: kept, new best
        p.observe(loss)
    assert p.scale == 0.5 and p.best == 0.5
    p.observe(float("nan"))  # ignored
    assert p.window_count == 0
    assert lr_factor(100, warm=10, total=200, schedule="plateau", plateau=p) == 0.5


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_of_every_step_follows_the_schedule(tiny_data_dir, tmp_path, schedule):
    cfg = api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path, f"train.lr_schedule={schedule}"))
    lrs = step_lrs(Trainer(cfg, progress=False), 12)
    expected = [0.01 * lr_factor(s, warm=2, total=12, schedule=schedule) for s in range(12)]
    assert lrs == pytest.approx(expected)
    assert lrs[0] == pytest.approx(0.005) and lrs[1] == pytest.approx(0.01)
    if schedule == "cosine":
        assert lrs[7] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))


def test_plateau_halves_the_learning_rate_when_the_loss_stalls_and_resumes(tiny_data_dir, tmp_path):
    extra = ("train.lr_schedule=plateau", "train.plateau_patience=2", "train.plateau_factor=0.5",
             "train.plateau_threshold=0.05")
    trainer = Trainer(api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path, *extra)), progress=False)
    # steps 0-1 warm-up; windows of 2 steps from step 2: [2,3] best 4.0, [4,5] 3.0 better, [6,7] 2.9 stalls
    losses = [9, 9, 4, 4, 3, 3, 2.9, 2.9, 2.9, 2.9, 1.0, 1.0]
    lrs = step_lrs(trainer, 12, [float(v) for v in losses])
    assert lrs[:8] == pytest.approx([0.005, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    assert lrs[8:10] == pytest.approx([0.005, 0.005])  # halved after the stalled window [6, 7]
    assert lrs[10:] == pytest.approx([0.0025, 0.0025])  # [8, 9] stalled again
    state = trainer.state()
    assert state["lr_plateaus"]["model"]["scale"] == 0.25
    again = Trainer(api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path, *extra)), progress=False)
    again.plateaus["model"].load_state_dict(state["lr_plateaus"]["model"])
    assert again.plateaus["model"].scale == 0.25 and again.plateaus["model"].patience == 2


def _conv_linear_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear,
                                                                 torch.nn.ConvTranspose2d))]


@pytest.mark.parametrize("scheme", ["xavier", "kaiming", "orthogonal"])
def test_init_schemes_have_their_statistics(scheme):
    torch.manual_seed(0)
    model = get_family("vae")(image_shape=(1, 28, 28), base_channels=16, latent_dim=64)
    assert init_weights(model, scheme) == len(_conv_linear_weights(model))
    for w in _conv_linear_weights(model):
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(w)
        if w.numel() < 2000:
            continue  # too few values for a tight statistic
        if scheme == "xavier":
            assert w.std().item() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.1)
        elif scheme == "kaiming":
            assert w.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.1)
        else:
            flat = w.flatten(1)
            rows, cols = flat.shape
            gram = flat @ flat.T if rows <= cols else flat.T @ flat
            assert torch.allclose(gram, torch.eye(min(rows, cols)), atol=1e-4)
    biases = [m.bias for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None]
    assert biases and all(float(b.detach().abs().max()) == 0.0 for b in biases)


def test_default_init_leaves_the_family_weights_and_trainer_applies_the_choice(tiny_data_dir, tmp_path):
    torch.manual_seed(0)
    model = get_family("vae")(image_shape=(1, 28, 28), base_channels=8, latent_dim=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert init_weights(model, "default") == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    cfg = api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path, "train.init=orthogonal"))
    trainer = Trainer(cfg, progress=False)
    flat = [p.flatten(1) for p in _conv_linear_weights(trainer.model)]
    square = [f for f in flat if f.shape[0] <= f.shape[1]]
    assert square and all(torch.allclose(f @ f.T, torch.eye(f.shape[0]), atol=1e-4) for f in square)


@pytest.mark.parametrize("override,match", [
    ("train.lr_schedule=linear", "train.lr_schedule.*constant, cosine, plateau"),
    ("train.plateau_factor=1.5", "train.plateau_factor"),
    ("train.plateau_patience=0", "train.plateau_patience"),
    ("train.init=he", "train.init.*default, xavier, kaiming, orthogonal"),
    ("model.perceptual_weight=-1", "perceptual_weight"),
    ("model.perceptual_weight=1.0 model.perceptual_net=imagenet", "perceptual_net"),
])
def test_bad_values_are_one_line_errors(tiny_data_dir, tmp_path, override, match):
    with pytest.raises(GenlabError, match=match) as err:
        cfg = api.resolve_config("mnist-ae", overrides(tiny_data_dir, tmp_path, *override.split()))
        Trainer(cfg, progress=False)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_perceptual_loss_is_added_and_trains(family):
    torch.manual_seed(0)
    kw = {"image_shape": (1, 28, 28), "base_channels": 8, "latent_dim": 4}
    plain = get_family(family)(**kw)
    with_p = get_family(family)(**kw, perceptual_weight=2.0, perceptual_net="mnist")
    with pytest.raises(GenlabError, match="feature net attached"):
        with_p("model", torch.zeros(2, 1, 28, 28), None)
    assert attach_perceptual(with_p) and not attach_perceptual(plain)  # what the trainer does
    with_p.load_state_dict(plain.state_dict())  # the feature net is not part of the model's state
    assert set(with_p.state_dict()) == set(plain.state_dict())
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    loss_plain, logs_plain = plain("model", x, None)
    torch.manual_seed(1)
    loss_p, logs_p = with_p("model", x, None)
    assert "perceptual" in logs_p and "perceptual" not in logs_plain and float(logs_p["perceptual"]) > 0
    assert float(loss_p.detach()) == pytest.approx(float(loss_plain.detach()) + 2.0 * float(logs_p["perceptual"]), rel=1e-4)
    loss_p.backward()
    assert all(p.grad is not None for p in with_p.decoder.parameters())
    with pytest.raises(GenlabError, match="takes 1-channel images, the data has 3"):
        attach_perceptual(get_family(family)(image_shape=(3, 28, 28), base_channels=8, latent_dim=4,
                                             perceptual_weight=1.0))
