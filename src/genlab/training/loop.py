"""One training loop for every family.

The loop knows nothing about diffusion, GANs or VAEs: per step it asks the model for its phases and, for each,
runs forward → backward (with gradient accumulation and optional bf16 autocast) → clip → that group's optimiser.
Around it: EMA, per-epoch fixed-seed sample grids and snapshots, JSON-lines scalars, atomic resumable training
states, NaN detection, and torch.distributed (DDP) when launched with torchrun. To resume, run the same command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from genlab.checkpoints.snapshot import save_snapshot
from genlab.checkpoints.state import load_state, rng_state, save_state, set_rng_state, state_paths
from genlab.config.core import RunConfig, default_config
from genlab.data.augment import augment
from genlab.errors import GenlabError, TrainingDiverged
from genlab.metrics.perceptual import attach_perceptual
from genlab.report.model_card import write_model_card
from genlab.training.batches import BatchOrder
from genlab.training.device import pick_device, resolve_precision
from genlab.training.distributed import DistInfo, barrier, broadcast_flag, init_distributed
from genlab.training.ema import EMA, ema_sibling
from genlab.training.init_from import init_from
from genlab.training.scalars import ScalarLog
from genlab.training.schedules import Plateau, init_weights, lr_factor
from genlab.training.setup import build_model, codec_for, load_training_data
from genlab.utils.cputime import cpu_seconds
from genlab.utils.io import remove_stale_temps, write_json
from genlab.utils.seeding import seed_everything
from genlab.viz.grid import save_grid

LOG = logging.getLogger("genlab.training")

# Config fields that may change between a run and its resumption (length of training, logging, hardware).
RESUMABLE_CHANGES = {"train.epochs", "train.max_steps", "train.time_limit_min", "train.log_every",
                     "train.checkpoint_every_min", "train.keep_last", "train.device", "train.threads",
                     "data.data_dir", "data.download", "run_dir"}


@dataclass
class TrainResult:
    run_dir: Path
    snapshot: Path
    step: int
    images_seen: int
    train_seconds: float
    logs: dict[str, float] = field(default_factory=dict)
    train_cpu_seconds: float = float("nan")  # process CPU time (self + children); train_seconds is wall-clock


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "options":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """First config key (not allowed to change on resume) whose value differs, described; else None."""
    a, b = _flatten(old), _flatten(new)
    defaults = _flatten(default_config(new.get("family") if new.get("family") == old.get("family") else None))
    for key in sorted(set(a) | set(b)):
        if key not in a and key in defaults and b.get(key) == defaults[key]:
            continue  # a key added to genlab after the run started, left at its default: the same run
        if key not in RESUMABLE_CHANGES and a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} in the run, {b.get(key)!r} now"
    return None


class Trainer:
    """Runs (or resumes) the training described by a RunConfig in its run directory."""

    def __init__(self, cfg: RunConfig, *, progress: bool = True, callback: Callable[[dict], None] | None = None):
        self.cfg = cfg
        self.progress = progress
        self.callback = callback
        self.run_dir = cfg.resolved_run_dir()
        self.device = pick_device(cfg.train.device)
        # fp16 is training-only (autocast + GradScaler, meant for CUDA; it runs on a CPU too, slowly): generation
        # never takes it, so it is not one of genlab.device's precisions.
        self.precision = "fp16" if cfg.train.precision == "fp16" else resolve_precision(cfg.train.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.dist: DistInfo = init_distributed(self.device)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self._validate()
        seed_everything(cfg.train.seed + self.dist.rank)
        self.data = load_training_data(cfg.data, cfg.train.seed)
        self.codec = codec_for(self.data)
        self.model = build_model(cfg, self.data).to(self.device)
        init_weights(self.model, cfg.train.init)  # before the EMA copies it; "default" keeps the family's own
        attach_perceptual(self.model)  # the frozen feature net of a perceptual_weight > 0 (not in the snapshot)
        if cfg.train.activation_checkpointing:
            self._enable_checkpointing()
        self.ema = EMA(self.model, cfg.train.ema_decay, cfg.train.ema_warmup) if cfg.train.ema_decay > 0 else None
        # train.ema_extra: further averages of the same weights, written beside every snapshot (post-hoc choice)
        self.ema_extra = {float(d): EMA(self.model, d, cfg.train.ema_warmup) for d in cfg.train.ema_extra}
        self.init_source = self._warm_start()  # train.init_from: another snapshot's weights (not on resume)
        self.optimizers, self.schedulers = self._make_optimizers()
        self.order = BatchOrder(len(self.data), cfg.train.seed)
        self.ddp = self._wrap_ddp()
        self.step = 0
        self.images_seen = 0
        self.train_seconds = 0.0  # wall-clock seconds of training steps (what train.time_limit_min counts)
        self.train_cpu_seconds = 0.0  # process CPU seconds (self + children) of the same steps
        self.epochs_done = 0
        self._density_batch: tuple[torch.Tensor, torch.Tensor | None] | None = None  # see fit_density

    # --- setup --------------------------------------------------------------------------------------------------
    def _validate(self) -> None:
        t = self.cfg.train
        if t.batch_size <= 0 or t.accum_steps <= 0:
            raise GenlabError(f"train.batch_size ({t.batch_size}) and train.accum_steps ({t.accum_steps}) must be > 0")
        if t.batch_size % (t.accum_steps * self.dist.world_size):
            raise GenlabError(f"train.batch_size={t.batch_size} must divide by accum_steps x processes "
                              f"({t.accum_steps} x {self.dist.world_size})")
        if t.epochs <= 0 and t.max_steps <= 0:
            raise GenlabError("set train.epochs > 0 or train.max_steps > 0")
        if t.init_from and t.init != "default":
            raise GenlabError(f"train.init={t.init} and train.init_from={t.init_from}: a warm start replaces the "
                              "initial weights, so the initialisation would be thrown away; set only one of them")

    def _warm_start(self) -> str | None:
        """`train.init_from`: model (and EMA) weights from another snapshot or run, before the first step. A run
        directory that already holds a training state resumes from it instead (the source is not read again)."""
        source = self.cfg.train.init_from
        if not source or state_paths(self.run_dir):
            return None
        where, changes = init_from(source, self.cfg.family, self.model, self.ema.model if self.ema else None)
        changed = "; model options changed: " + ", ".join(f"{k} {a!r} → {b!r}" for k, a, b in changes) if changes else ""
        text = f"warm start: model{' and EMA' if self.ema else ''} weights from {where}{changed}"
        LOG.info(text)
        if self.progress and self.dist.is_main:
            tqdm.write(text)
        return where

    def _enable_checkpointing(self) -> None:
        """Activation checkpointing: every backbone with a `checkpointing` switch (the U-Net) recomputes its
        stages' activations in the backward pass instead of storing them (less memory, ~30% more compute)."""
        switches = [m for m in self.model.modules() if hasattr(m, "checkpointing")]
        if not switches:
            raise GenlabError(f"train.activation_checkpointing: the {self.cfg.family} family has no backbone that "
                              "supports it (the U-Net families do: diffusion, score-sde)")
        for m in switches:
            m.checkpointing = True

    def _make_optimizers(self) -> tuple[dict[str, torch.optim.Optimizer], dict[str, Any]]:
        t = self.cfg.train
        scales, betas = self.model.group_lr_scale(), self.model.group_betas()
        warm = max(1, t.warmup_steps)
        opts, scheds = {}, {}
        self.plateaus = {}  # train.lr_schedule=plateau: per group, fed each step's loss after the warm-up
        for name, params in self.model.param_groups().items():
            opts[name] = torch.optim.AdamW(list(params), lr=t.lr * scales.get(name, 1.0),
                                           betas=tuple(betas.get(name, t.betas)), weight_decay=t.weight_decay)
            self.plateaus[name] = Plateau(t.plateau_patience, t.plateau_factor, t.plateau_threshold)
            scheds[name] = torch.optim.lr_scheduler.LambdaLR(opts[name], partial(
                lr_factor, warm=warm, total=self.total_steps, schedule=t.lr_schedule, plateau=self.plateaus[name]))
        return opts, scheds

    def _wrap_ddp(self) -> nn.Module:
        if not self.dist.enabled:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(self.model, device_ids=ids, find_unused_parameters=len(self.optimizers) > 1)

    @property
    def total_steps(self) -> int:
        t = self.cfg.train
        if t.max_steps > 0:
            return t.max_steps
        # an "epoch" is epoch_images images when set (as for grids and snapshots), else the whole dataset
        return max(1, math.ceil(t.epochs * self.epoch_images / t.batch_size))

    @property
    def epoch_images(self) -> int:
        return self.cfg.train.epoch_images or len(self.data)

    # --- state --------------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step, "images_seen": self.images_seen, "train_seconds": self.train_seconds,
            "train_cpu_seconds": self.train_cpu_seconds, "epochs_done": self.epochs_done, "config": self.cfg.to_dict(),
            "model": self.model.state_dict(), "ema": self.ema.model.state_dict() if self.ema else None,
            "ema_extra": {str(d): e.model.state_dict() for d, e in self.ema_extra.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "lr_plateaus": {k: p.state_dict() for k, p in self.plateaus.items()},
            "rng": rng_state(), "scaler": self.scaler.state_dict(),
        }

    def save_state(self) -> Path | None:
        if not self.dist.is_main:
            return None
        return save_state(self.run_dir, self.step, self.state(), self.cfg.train.keep_last)

    def try_resume(self) -> bool:
        paths = state_paths(self.run_dir)
        if not paths:
            return False
        state = load_state(paths[-1])
        diff = config_difference(state["config"], self.cfg.to_dict())
        if diff:
            raise GenlabError(f"{self.run_dir} holds a run with another config ({diff}); "
                              "choose another run_dir=… or delete that directory")
        self.model.load_state_dict(state["model"])
        if self.ema and state["ema"] is not None:
            self.ema.model.load_state_dict(state["ema"])
        for d, e in self.ema_extra.items():  # the config matched, so the state holds every decay asked for
            e.model.load_state_dict(state["ema_extra"][str(d)])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        for k, p in self.plateaus.items():  # states written before plateau existed have none
            p.load_state_dict((state.get("lr_plateaus") or {}).get(k, {}))
        if state.get("scaler"):  # fp16 runs; states written before fp16 existed have none
            self.scaler.load_state_dict(state["scaler"])
        if self.dist.world_size == 1:
            set_rng_state(state["rng"])
        else:  # other ranks' generators were not saved: reseed distinctly per rank and step
            seed_everything(self.cfg.train.seed + 1000003 * state["step"] + self.dist.rank)
        self.step, self.images_seen = state["step"], state["images_seen"]
        self.train_seconds, self.epochs_done = state["train_seconds"], state["epochs_done"]
        self.train_cpu_seconds = state.get("train_cpu_seconds", float("nan"))  # unknown for older states
        return True

    def finished(self) -> bool:
        """Step budget reached, or the time limit (rank 0's clock decides for every process)."""
        limit = self.cfg.train.time_limit_min * 60.0
        done = self.step >= self.total_steps or (limit > 0 and self.train_seconds >= limit)
        return broadcast_flag(done, self.dist)

    # --- one optimisation step ----------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def _run_phase(self, phase: str, xs: tuple, ys: tuple | None) -> dict[str, float]:
        self.model.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        n = len(xs)
        phase_loss = 0.0
        for i, xm in enumerate(xs):
            ym = ys[i] if ys is not None else None
            sync = self.ddp.no_sync() if (self.dist.enabled and i < n - 1) else contextlib.nullcontext()
            with sync:
                with self._autocast():
                    loss, micro_logs = self.ddp(phase, xm, ym)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(f"loss of phase '{phase}' is {loss.item()} at step {self.step}; "
                                           f"the last good training state is kept in {self.run_dir}")
                self.scaler.scale(loss / n).backward()  # fp16: loss scaled so small gradients do not underflow
                phase_loss += float(loss.detach()) / n
            for k, v in micro_logs.items():
                logs[k] = logs.get(k, 0.0) + float(v) / n
        group, opt = self.optimizers[phase].param_groups[0]["params"], self.optimizers[phase]
        self.scaler.unscale_(opt)  # true gradients for clipping (a no-op unless fp16)
        if self.cfg.train.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(group, self.cfg.train.grad_clip)
            logs[f"grad_norm/{phase}"] = float(norm)
        self.scaler.step(opt)  # fp16: skipped when a gradient is inf/NaN (the scale then shrinks)
        self.scaler.update()
        if self.scaler.is_enabled():
            logs["grad_scale"] = float(self.scaler.get_scale())
        if self.cfg.train.lr_schedule == "plateau" and self.step >= self.cfg.train.warmup_steps:
            self.plateaus[phase].observe(phase_loss)
        self.schedulers[phase].step()
        return logs

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        """One optimisation step on a (per-process) batch, x already encoded to model space."""
        accum = self.cfg.train.accum_steps
        xs = x.chunk(accum)
        ys = y.chunk(accum) if y is not None else None
        logs: dict[str, float] = {}
        for phase in self.model.phases(self.step):
            logs.update(self._run_phase(phase, xs, ys))
        self.step += 1
        if self.ema:
            self.ema.update(self.model, self.step)
        for e in self.ema_extra.values():
            e.update(self.model, self.step)
        return logs

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.order.indices(self.images_seen, self.cfg.train.batch_size, self.dist.rank, self.dist.world_size)
        x_u8, y = self.data.get_batch(idx)
        x = augment(self.codec.encode(x_u8).to(self.device, non_blocking=True), self.cfg.data.augment)
        if y is not None and self.model.num_classes > 0:
            y = y.to(self.device)
        else:
            y = None
        return x, y

    # --- outputs ------------------------------------------------------------------------------------------------
    def sample_grid(self, path: Path, model: nn.Module | None = None) -> Path:
        """The fixed-seed grid (same seeds every epoch) from the EMA weights, as a PNG."""
        s = self.cfg.sample
        model = model or (self.ema.model if self.ema else self.model)
        seeds = [s.seed + i for i in range(s.num_images)]
        k = self.model.num_classes
        labels = torch.arange(s.num_images, device=self.device) % k if k > 0 else None
        asked = {"sampler": s.sampler, "steps": s.steps, "guidance": s.guidance, "eta": s.eta, "order": s.order,
                 "grid": s.grid, "guidance_interval": s.guidance_interval}  # the grid uses what the family takes
        kwargs = {k: v for k, v in asked.items() if k in model.sampling_options and v is not None}
        was_training = model.training
        model.eval()
        with self._autocast():
            x = model.generate(seeds, labels, **kwargs)
        model.train(was_training)
        save_grid(self.codec.to_display(x.float().cpu()), path, nrow=k if k > 0 else None, scale=2)
        return path

    def write_snapshot(self, path: Path) -> Path:
        model = self.ema.model if self.ema else self.model
        extra = {"step": self.step, "images_seen": self.images_seen, "train_seconds": round(self.train_seconds, 1),
                 "train_cpu_seconds": round(self.train_cpu_seconds, 1) if math.isfinite(self.train_cpu_seconds) else None,
                 "config": self.cfg.to_dict(), "dataset": self.cfg.data.dataset}
        save_snapshot(path, model, self.codec.state(), weights="ema" if self.ema else "raw", extra=extra)
        write_model_card(path, command=shlex.join(sys.argv))  # README-style card beside it: <stem>.md
        for d, e in self.ema_extra.items():
            save_snapshot(ema_sibling(path, d), e.model, self.codec.state(), weights="ema",
                          extra={**extra, "ema_decay": d})
        return path

    def fit_density(self, images: int = 5000) -> dict[str, float]:
        """Families that sample from a density fitted to their codes (autoencoders: ``fit_density``) refit it on
        up to `images` training images (a fixed, seeded subset) with the sampling weights, before grids and
        snapshots. Returns what the family reports ({} for the others)."""
        model = self.ema.model if self.ema else self.model
        if not model.fits_density:
            return {}
        if self._density_batch is None:  # the same seeded subset every time: read it once
            n = min(images, len(self.data))
            idx = np.sort(np.random.default_rng(self.cfg.train.seed).choice(len(self.data), n, replace=False))
            self._density_batch = self.data.get_batch(idx)
        x_u8, y = self._density_batch
        y = y.to(self.device) if y is not None and model.num_classes > 0 else None
        was_training = model.training
        model.eval()
        stats = model.fit_density(self.codec.encode(x_u8).to(self.device), y, seed=self.cfg.train.seed)
        model.train(was_training)
        return stats

    def end_of_epoch(self, epoch: int) -> None:
        if self.dist.is_main:
            density = self.fit_density()
            grid = self.sample_grid(self.run_dir / "samples" / f"epoch-{epoch:04d}.png")
            snap = self.write_snapshot(self.run_dir / "snapshots" / f"epoch-{epoch:04d}.safetensors")
            self._emit({"type": "epoch", "epoch": epoch, "step": self.step, "grid": str(grid), "snapshot": str(snap),
                        **density})
        self.epochs_done = epoch
        self.save_state()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.callback:
            self.callback(event)

    def _remove_stale_temps(self) -> None:
        """Temp files of killed writes in this run (a kill -9 mid-save leaves e.g. a whole snapshot) are deleted."""
        removed = remove_stale_temps(self.run_dir)
        if removed and self.progress:
            tqdm.write(f"removed {len(removed)} temp file(s) left by an interrupted write in {self.run_dir}")

    def _announce_seed(self) -> None:
        """The seed, printed and logged at training start (and resume), so a run can be repeated."""
        t, s = self.cfg.train, self.cfg.sample
        text = (f"seed {t.seed} (train.seed; rank r uses seed + r), sample grids use seeds {s.seed}..."
                f"{s.seed + s.num_images - 1} (sample.seed), starting at step {self.step}")
        LOG.info(text)
        self.log.add_text("seed", text, self.step)
        self._emit({"type": "start", "seed": t.seed, "sample_seed": s.seed, "step": self.step})
        if self.progress:
            tqdm.write(text)

    def _log(self, logs: dict[str, float], bar: tqdm, t_interval: float, n_interval: int) -> None:
        row = {"step": self.step, "epoch": self.images_seen / self.epoch_images, "images_seen": self.images_seen,
               "images_per_s": round(n_interval / max(t_interval, 1e-9), 2),
               "lr": self.schedulers[next(iter(self.schedulers))].get_last_lr()[0],
               **{k: round(v, 6) for k, v in logs.items()}}
        self.log.add(row)
        self._emit({"type": "log", **row})
        if self.progress:
            bar.write(json.dumps(row))

    # --- the loop -----------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temps()
        barrier(self.dist)
        resumed = self.try_resume()
        if self.dist.is_main:
            # rows a killed run logged past the state we restart from are dropped: those steps run again
            self.log = ScalarLog(self.run_dir, resume_step=self.step)
            self._announce_seed()
            write_json(self.run_dir / "config.json", self.cfg.to_dict())
        if resumed and self.progress and self.dist.is_main:
            tqdm.write(f"resuming {self.run_dir} at step {self.step} ({self.images_seen} images seen)")
        if not self.finished():
            self._loop()
        final = self.run_dir / "snapshot.safetensors"
        if self.dist.is_main:
            self.fit_density()
            self.write_snapshot(final)
            self.sample_grid(self.run_dir / "samples" / "final.png")
            self.log.close()
        barrier(self.dist)
        return TrainResult(self.run_dir, final, self.step, self.images_seen, self.train_seconds,
                           train_cpu_seconds=self.train_cpu_seconds)

    def _loop(self) -> None:
        t = self.cfg.train
        bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=not (self.progress and self.dist.is_main))
        acc: dict[str, float] = {}
        n_acc, t_interval, n_interval = 0, 0.0, 0
        last_ckpt = time.monotonic()
        self.model.train()
        try:
            while not self.finished():
                t0, c0 = time.perf_counter(), cpu_seconds()
                x, y = self.next_batch()
                logs = self.train_step(x, y)
                self.images_seen += t.batch_size
                dt = time.perf_counter() - t0
                self.train_seconds += dt
                self.train_cpu_seconds += cpu_seconds() - c0
                t_interval, n_interval = t_interval + dt, n_interval + t.batch_size
                for k, v in logs.items():
                    acc[k] = acc.get(k, 0.0) + v
                n_acc += 1
                bar.update(1)
                bar.set_postfix(img_s=f"{t.batch_size / dt:.0f}", loss=f"{logs.get('loss', next(iter(logs.values()), 0)):.4f}")
                if self.step % t.log_every == 0 and self.dist.is_main:
                    self._log({k: v / n_acc for k, v in acc.items()}, bar, t_interval, n_interval)
                    acc, n_acc, t_interval, n_interval = {}, 0, 0.0, 0
                epoch = self.images_seen // self.epoch_images
                if epoch > self.epochs_done:
                    self.end_of_epoch(epoch)
                    last_ckpt = time.monotonic()
                elif broadcast_flag(time.monotonic() - last_ckpt > t.checkpoint_every_min * 60, self.dist):
                    self.save_state()
                    last_ckpt = time.monotonic()
        except KeyboardInterrupt:
            self.save_state()
            bar.close()
            raise
        if n_acc and self.dist.is_main:  # the last, partial log interval
            self._log({k: v / n_acc for k, v in acc.items()}, bar, t_interval, n_interval)
        bar.close()
        self.save_state()
