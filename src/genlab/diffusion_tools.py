"""Looking inside a diffusion model: the forward process, the schedules, sampler trajectories, noise interpolation.

What notebooks/04_diffusion.ipynb (and anyone teaching DDPM) needs on top of `genlab.api`:

    import genlab.api as gl
    curves = gl.schedule_curves(("linear", "cosine"))              # alpha_bar(t) and log-SNR per schedule
    noisy = gl.forward_process(x0, [0, 250, 500, 999], "cosine")   # closed-form q(x_t | x_0), one eps per image
    traj = gl.trajectory(gen, seeds=[0, 1], sampler="ddim", steps=10)  # x_t and x0_hat at every sampler step
    strip = gl.interpolate_noise(gen, 0, 1, n=8)                    # slerp between two seeds' x_T, DDIM eta = 0

Everything is in model space ((N, C, H, W) in [-1, 1]) unless stated; `gen.codec.to_display` turns it into uint8.
The schedules, the q_sample formula, the samplers and the per-sample seeding are the package's own (the ones
training and `generate` use), so what these functions show is what the model does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.interpolate import interpolation_path
from genlab.models.diffusion import objective
from genlab.models.diffusion.samplers import get_sampler
from genlab.models.diffusion.schedules import make_alphas_cumprod, sampling_timesteps
from genlab.utils.seeding import randn_like_per_sample, randn_per_sample, sample_generators

__all__ = ["Trajectory", "denoising_error", "forward_chain", "forward_process", "interpolate_noise",
           "schedule_curves", "trajectory"]


def schedule_curves(names: Sequence[str] = ("linear", "cosine"), num_steps: int = 1000) -> dict[str, dict[str, np.ndarray]]:
    """For each schedule: t (T,), alpha_bar (T,), beta (T,) and log_snr = log(alpha_bar / (1 - alpha_bar)) (T,)."""
    out = {}
    for name in names:
        ab = make_alphas_cumprod(name, num_steps)
        prev = torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
        out[name] = {"t": np.arange(num_steps), "alpha_bar": ab.numpy(), "beta": (1 - ab / prev).numpy(),
                     "log_snr": torch.log(ab / (1 - ab)).numpy()}
    return out


def _timesteps(ts: Sequence[int], num_steps: int) -> list[int]:
    ts = [int(t) for t in ts]
    bad = [t for t in ts if not 0 <= t < num_steps]
    if bad:
        raise GenlabError(f"timesteps {bad} outside 0..{num_steps - 1}")
    return ts


def forward_process(x0: Tensor, ts: Sequence[int], schedule: str = "cosine", num_steps: int = 1000,
                    seed: int = 0) -> Tensor:
    """q(x_t | x_0) in closed form, x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (Ho et al. 2020 eq. 4).

    x0: (N, C, H, W) in model space. Image i uses one eps (seeded by seed + i) at every t, so a row of the result
    differs from the next only in the noise level. Returns (len(ts), N, C, H, W).
    """
    ab = make_alphas_cumprod(schedule, num_steps)
    ts = _timesteps(ts, num_steps)
    eps = randn_per_sample([seed + i for i in range(x0.shape[0])], x0.shape[1:]).to(x0)
    rows = []
    for t in ts:
        alpha, sigma = objective.alpha_sigma(ab, torch.full((x0.shape[0],), t), x0.ndim, x0.dtype, x0.device)
        rows.append(objective.q_sample(x0, eps, alpha, sigma))
    return torch.stack(rows)


def forward_chain(x0: Tensor, t: int, schedule: str = "cosine", num_steps: int = 1000, seed: int = 0) -> Tensor:
    """The forward Markov chain run step by step: x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) z_s for s = 0..t
    (fresh noise every step, one generator seeded with `seed` for the whole batch). Its distribution equals
    `forward_process` at t — the "jump ahead" property of q(x_t | x_0)."""
    ab = make_alphas_cumprod(schedule, num_steps)
    (t,) = _timesteps([t], num_steps)
    prev = torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
    betas = (1 - ab / prev)[: t + 1].tolist()
    gen = torch.Generator().manual_seed(int(seed))
    x = x0.detach().float().cpu().clone()
    noise = torch.empty_like(x)
    for beta in betas:  # in place, float32: ~15 ns per pixel and step on one CPU core
        x.mul_((1 - beta) ** 0.5).add_(noise.normal_(generator=gen), alpha=beta ** 0.5)
    return x.to(x0.dtype)


@dataclass
class Trajectory:
    """One sampler run recorded step by step (model space, on the CPU).

    timesteps: the training indices visited; x: (S, N, C, H, W) the state fed to the denoiser at each step;
    x0_hat: (S, N, C, H, W) the denoiser's clean-image prediction at each step; final: (N, C, H, W) the sample.
    """

    sampler: str
    timesteps: list[int]
    x: Tensor
    x0_hat: Tensor
    final: Tensor

    @property
    def nfe(self) -> int:
        """Denoiser calls per image (classifier-free guidance doubles the network evaluations inside each call)."""
        return len(self.timesteps)


def _diffusion(gen) -> torch.nn.Module:
    if gen.capabilities.latent_kind != "noise" or "steps" not in gen.capabilities.sampling_options:
        raise GenlabError(f"this needs a diffusion snapshot, got family '{gen.info.family}'")
    return gen.model


def trajectory(gen, seeds: Sequence[int], labels: int | Sequence[int] | None = None, *, sampler: str = "ddim",
               steps: int = 20, guidance: float = 1.0, eta: float = 0.0) -> Trajectory:
    """Sample `seeds` with a loaded diffusion Generator and record every step (the sampler's per-step callback).

    labels: as in `Generator.generate` (one class, one per seed, or None: classes cycle for conditional models).
    The final images equal ``gen.generate(seeds=seeds, ...)`` for the same settings.
    """
    _diffusion(gen)
    xs, x0s, ts = [], [], []

    def record(state: dict) -> None:  # one batch (batch_size = all seeds), so steps arrive once each, in order
        ts.append(int(state["t"]))
        xs.append(state["x"].detach().float().cpu())
        x0s.append(state["x0_hat"].detach().float().cpu())

    seeds = [int(s) for s in seeds]
    opts = {"eta": eta} if eta else {}
    final = gen.generate_model_space(seeds, gen.labels_for(labels, len(seeds)), sampler=sampler, steps=steps,
                                     guidance=guidance, callback=record, batch_size=len(seeds), **opts)
    return Trajectory(sampler, ts, torch.stack(xs), torch.stack(x0s), final)


@torch.no_grad()
def denoising_error(gen, x0: Tensor, ts: Sequence[int], labels: Tensor | None = None, seed: int = 0) -> np.ndarray:
    """Mean squared error of the model's x0 prediction from x_t = q_sample(x0, t), for each t (what training
    minimises, seen per noise level). x0: (N, C, H, W) model space; labels (N,) or None (unconditional pass)."""
    model = _diffusion(gen)
    ts = _timesteps(ts, model.cfg.num_train_steps)
    noisy = forward_process(x0, ts, model.cfg.schedule, model.cfg.num_train_steps, seed)
    device = next(model.parameters()).device
    denoise = model.denoiser(None if labels is None else labels.to(device), 1.0, clip_x0=False)
    out = []
    for t, xt in zip(ts, noisy):
        x0_hat = denoise(xt.to(device), torch.full((x0.shape[0],), t, dtype=torch.long, device=device)).cpu()
        out.append(float((x0_hat - x0).square().mean()))
    return np.array(out)


@torch.no_grad()
def interpolate_noise(gen, seed_a: int, seed_b: int, n: int = 8, label: int | None = None, *, steps: int = 20,
                      guidance: float = 1.0, method: str = "slerp") -> Tensor:
    """Images decoded by deterministic DDIM (eta = 0) from `n` noises on the path between seed_a's and seed_b's
    x_T: DDIM is a fixed map noise → image, so x_T is a latent code (Song et al. 2021, sec. 5.3). Slerp keeps the
    noise at a typical norm. The ends equal ``gen.generate(seeds=[seed_a or seed_b], labels=label, sampler="ddim")``;
    a conditional model with label None keeps seed_a's class (seed_a mod K) for the whole strip.
    Returns (n, C, H, W) model space."""
    model = _diffusion(gen)
    device = next(model.parameters()).device
    ends = randn_like_per_sample(sample_generators([seed_a, seed_b]), model.image_shape)
    x_T = interpolation_path(ends[0], ends[1], n, method).to(device)
    if label is None and model.num_classes > 0:  # one class for the whole strip: seed_a's (seed_a mod K)
        label = int(seed_a) % model.num_classes
    labels = gen.labels_for(label, n)
    denoise = model.denoiser(None if labels is None else labels.to(device), guidance)
    timesteps = sampling_timesteps(steps, model.cfg.num_train_steps)
    was_training = model.training
    model.eval()
    try:
        x0 = get_sampler("ddim")(denoise, x_T, timesteps, model.alphas_cumprod, generators=sample_generators(range(n)))
    finally:
        model.train(was_training)
    return x0.clamp(-1, 1).float().cpu()
