"""Progressive distillation (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models").

A student with N deterministic DDIM steps learns to land, in ONE step, where the teacher lands in TWO DDIM steps on
the grid of 2N steps; the student then becomes the teacher of the next stage (2N -> N -> N/2 -> ... -> 1).

Grids are genlab's "trailing" grids (`schedules.sampling_timesteps`): the 2N-step grid holds the N-step grid at its
even positions (`check_nested`), so student step i (t_i -> t_{i+1}) is teacher steps 2i and 2i+1. After the last
listed index every grid jumps to the clean image (alpha_bar = 1), as the samplers do.

Target (their Algorithm 2, discrete time). With z_t = a_t x + s_t eps, a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar),
one DDIM step t -> u with a prediction x0 gives  z_u = a_u x0 + (s_u / s_t)(z_t - a_t x0).  The teacher takes two
such steps z_t -> z_m -> z_u; the student's x0 target is the x0 whose single step t -> u lands on that z_u:

    x0~ = (z_u - (s_u / s_t) z_t) / (a_u - (s_u / s_t) a_t)        (= z_u when u is the clean image, s_u = 0)

Loss: x0-space MSE weighted by max(SNR_t, 1) ("truncated SNR", their sec. 4), which stays finite at SNR -> 0 where
the 1-step student must predict x0 from pure noise; students therefore need a "v" or "edm" parameterisation
(`check_student`): an eps student cannot express x0 at alpha ~ 0.

Class-conditional teachers: labels are dropped to the null class with probability p_uncond for teacher and student
alike, so the student keeps an unconditional branch (classifier-free guidance still works); with guidance w != 1 the
teacher's guided output is distilled into the student's conditional branch (Meng et al. 2023, first stage, at one w).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.diffusion.objective import Denoiser, alpha_sigma
from genlab.models.diffusion.schedules import sampling_timesteps


def stage_schedule(teacher_steps: int, student_steps: int) -> list[tuple[int, int]]:
    """[(teacher steps, student steps)] of each halving stage, e.g. (16, 1) -> [(16, 8), (8, 4), (4, 2), (2, 1)].

    GenlabError unless teacher_steps = student_steps * 2^k with k >= 1.
    """
    t, s = int(teacher_steps), int(student_steps)
    if s < 1 or t <= s or t % s or (t // s) & (t // s - 1):
        raise GenlabError(f"distillation: teacher steps {teacher_steps} must be student steps {student_steps} "
                          "times a power of two (e.g. 16 -> 1, 32 -> 4)")
    stages = []
    while t > s:
        stages.append((t, t // 2))
        t //= 2
    return stages


def check_nested(student_steps: int, num_train_steps: int) -> tuple[Tensor, Tensor]:
    """(student grid (N,), teacher grid (2N,)) of trailing indices; GenlabError unless teacher[::2] == student."""
    n = int(student_steps)
    if 2 * n > num_train_steps:
        raise GenlabError(f"distillation: 2 x {n} student steps exceed the model's {num_train_steps} noise levels")
    student, teacher = sampling_timesteps(n, num_train_steps), sampling_timesteps(2 * n, num_train_steps)
    if not torch.equal(teacher[::2], student):
        raise GenlabError(f"distillation: the {2 * n}-step grid does not contain the {n}-step grid "
                          f"({teacher.tolist()} vs {student.tolist()}); choose steps dividing T = {num_train_steps}")
    return student, teacher


def check_student(prediction: str) -> None:
    if prediction == "eps":
        raise GenlabError("distillation: the student needs prediction v or edm (an eps model cannot predict x0 from "
                          "pure noise in one step); the teacher may be any")


def _coef(alphas_cumprod: Tensor, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """(a, s) shaped (N, 1, 1, 1) for indices t (N,) long, where t = -1 means the clean image (a = 1, s = 0)."""
    clean = t < 0
    a, s = alpha_sigma(alphas_cumprod, t.clamp(min=0), like.ndim, like.dtype, like.device)
    mask = clean.to(like.device).reshape(a.shape)
    return torch.where(mask, torch.ones_like(a), a), torch.where(mask, torch.zeros_like(s), s)


def ddim_step(x0: Tensor, z_t: Tensor, a_t: Tensor, s_t: Tensor, a_u: Tensor, s_u: Tensor) -> Tensor:
    """One deterministic DDIM step t -> u given the x0 prediction: a_u x0 + (s_u / s_t)(z_t - a_t x0)."""
    return a_u * x0 + (s_u / s_t) * (z_t - a_t * x0)


def target_x0(z_t: Tensor, z_u: Tensor, a_t: Tensor, s_t: Tensor, a_u: Tensor, s_u: Tensor) -> Tensor:
    """The x0 whose single DDIM step t -> u maps z_t to z_u (module docstring)."""
    r = s_u / s_t
    return (z_u - r * z_t) / (a_u - r * a_t)


@dataclass
class StepGrid:
    """Per-sample indices of one student step: t (start), m (teacher midpoint), u (end; -1 = clean image)."""

    t: Tensor
    m: Tensor
    u: Tensor


def draw_steps(student_steps: int, num_train_steps: int, n: int, generator: torch.Generator) -> StepGrid:
    """n student steps drawn uniformly from the N-step grid, with their teacher midpoints and ends."""
    _, teacher = check_nested(student_steps, num_train_steps)
    ext = torch.cat([teacher, torch.tensor([-1])])  # (2N + 1,): the teacher grid then the clean image
    i = torch.randint(0, int(student_steps), (n,), generator=generator)
    return StepGrid(ext[2 * i], ext[2 * i + 1], ext[2 * i + 2])


@torch.no_grad()
def teacher_target(teacher: Denoiser, x0: Tensor, eps: Tensor, steps: StepGrid, alphas_cumprod: Tensor
                   ) -> tuple[Tensor, Tensor]:
    """(z_t, x0~): the noisy input at t and the student's x0 target from two teacher DDIM steps t -> m -> u."""
    a_t, s_t = _coef(alphas_cumprod, steps.t, x0)
    a_m, s_m = _coef(alphas_cumprod, steps.m, x0)
    a_u, s_u = _coef(alphas_cumprod, steps.u, x0)
    z_t = a_t * x0 + s_t * eps
    z_m = ddim_step(teacher(z_t, steps.t.to(x0.device)), z_t, a_t, s_t, a_m, s_m)
    m_clean = (steps.m < 0).to(x0.device)  # never with N >= 1 (m is a grid point), kept for safety
    x0_m = teacher(z_m, steps.m.clamp(min=0).to(x0.device))
    z_u = ddim_step(x0_m, z_m, a_m, s_m, a_u, s_u)
    z_u = torch.where(m_clean.reshape(-1, 1, 1, 1), z_m, z_u)
    return z_t, target_x0(z_t, z_u, a_t, s_t, a_u, s_u)


def distill_loss(student: Denoiser, teacher: Denoiser, x0: Tensor, steps: StepGrid, eps: Tensor,
                 alphas_cumprod: Tensor) -> Tensor:
    """max(SNR_t, 1)-weighted x0-MSE between the student's one step and the teacher's two steps (scalar)."""
    z_t, target = teacher_target(teacher, x0, eps, steps, alphas_cumprod)
    pred = student(z_t, steps.t.to(x0.device))
    a_t, s_t = _coef(alphas_cumprod, steps.t, x0)
    weight = ((a_t / s_t) ** 2).clamp(min=1.0).flatten()
    return (weight * (pred - target).square().flatten(1).mean(dim=1)).mean()


def drop_labels(labels: Tensor | None, p_uncond: float, null_label: int, generator: torch.Generator
                ) -> Tensor | None:
    """Labels with a fraction p_uncond set to the null class (same draw for teacher and student)."""
    if labels is None:
        return None
    drop = torch.rand(labels.shape, generator=generator) < p_uncond
    return torch.where(drop.to(labels.device), torch.full_like(labels, null_label), labels)


@dataclass
class StageResult:
    teacher_steps: int
    student_steps: int
    iterations: int
    first_loss: float
    last_loss: float
    losses: list[float]


def distill_stage(teacher: nn.Module, student: nn.Module, batches: Iterator[tuple[Tensor, Tensor | None]], *,
                  student_steps: int, iterations: int, lr: float = 1e-4, guidance: float = 1.0,
                  p_uncond: float = 0.1, ema: Any = None, seed: int = 0,
                  progress: Callable[[int, int, float], None] | None = None) -> tuple[nn.Module, StageResult]:
    """Train `student` (a diffusion model, modified in place) to take `student_steps` DDIM steps where `teacher`
    takes twice as many. batches: (x0 (B, C, H, W) in [-1, 1], labels (B,) or None) on the models' device.
    ema: an exponential moving average of the student (`genlab.training.ema.EMA`: .update(model, step), .model),
    or None. Returns (the EMA copy, else the student, in eval mode; the stage's losses). progress(i, iterations,
    loss) after every step."""
    check_student(student.cfg.prediction)
    alphas_cumprod = teacher.alphas_cumprod
    if not torch.equal(alphas_cumprod, student.alphas_cumprod):
        raise GenlabError("distillation: teacher and student must share the noise schedule")
    check_nested(student_steps, len(alphas_cumprod))
    gen = torch.Generator().manual_seed(int(seed))
    teacher.eval().requires_grad_(False)
    student.train().requires_grad_(True)  # a copy of the previous stage's (frozen) EMA student
    opt = torch.optim.Adam(student.unet.parameters(), lr=lr)
    null = student.num_classes
    losses: list[float] = []
    for it in range(int(iterations)):
        x0, labels = next(batches)
        labels = drop_labels(labels, p_uncond, null, gen) if student.num_classes else None
        steps = draw_steps(student_steps, len(alphas_cumprod), x0.shape[0], gen)
        eps = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
        t_den = teacher.denoiser(labels, guidance, clip_x0=True)
        s_den = student.denoiser(labels, 1.0, clip_x0=False)
        loss = distill_loss(s_den, t_den, x0, steps, eps, alphas_cumprod)
        if not math.isfinite(float(loss.detach())):
            raise GenlabError(f"distillation: loss became {float(loss)} at iteration {it}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.unet.parameters(), 1.0)
        opt.step()
        if ema is not None:
            ema.update(student, it)
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(it + 1, int(iterations), losses[-1])
    result = StageResult(2 * int(student_steps), int(student_steps), int(iterations),
                         losses[0] if losses else float("nan"), losses[-1] if losses else float("nan"), losses)
    return (student if ema is None else ema.model).eval(), result
