"""Few-step generation by progressive distillation, as an API call: a diffusion snapshot in, one normal run directory
per halving stage out (`genlab sample DIR` samples it with its own DDIM step count).

    import genlab.api as gl
    stages = gl.distill("mnist-ddpm", "runs/mnist-distill", teacher_steps=16, student_steps=4, iterations=300)
    gl.load("runs/mnist-distill/steps-4").generate(16, sampler="ddim", steps=4)

Stage k writes OUT/steps-N (snapshot.safetensors + its model card + losses.json). A stage whose snapshot exists is
not retrained but used as the next stage's teacher, so a long schedule runs stage by stage (each its own process)
and an interrupted one resumes at the first missing stage. The method is `models.diffusion.distill`.
"""

from __future__ import annotations

import copy
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, load
from genlab.models.diffusion.distill import check_nested, distill_stage, stage_schedule
from genlab.training.ema import EMA
from genlab.utils.io import write_json

Progress = Callable[[str, int, int, float], None]  # (stage name, iteration, iterations, loss)


def _training_batches(gen: LoadedModel, batch_size: int, seed: int, data_dir: str | Path | None
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Endless seeded random batches of the teacher's training split, in model space on its device."""
    data_cfg = gen.info.data_config
    dataset = gen.info.dataset or data_cfg.get("dataset")
    if not dataset:
        raise GenlabError("distillation: the snapshot header has no 'dataset'; cannot tell which images to use")
    ds = load_dataset(dataset, "train", data_dir=data_dir if data_dir is not None else data_cfg.get("data_dir"),
                      download=bool(data_cfg.get("download", False)), **(data_cfg.get("options") or {}))
    rng = np.random.default_rng(seed)
    conditional = gen.num_classes > 0
    while True:
        x, y = ds.get_batch(np.sort(rng.choice(len(ds), size=min(batch_size, len(ds)), replace=False)))
        yield (gen.codec.encode(x).to(gen.device),
               y.to(gen.device) if conditional and y is not None else None)


def _student(teacher: torch.nn.Module) -> torch.nn.Module:
    """A copy of the teacher (weights included) in a parameterisation that can predict x0 in one step."""
    if teacher.cfg.prediction != "eps":
        return copy.deepcopy(teacher).train()
    kwargs = {**teacher.constructor_kwargs(), "prediction": "v"}
    student = type(teacher)(**kwargs).to(next(teacher.parameters()).device)
    student.load_state_dict(teacher.state_dict())
    return student.train()


def _check_request(gen: LoadedModel, teacher_steps: int, student_steps: int, iterations: Sequence[int],
                   batch_size: int, lr: float, guidance: float) -> list[tuple[int, int]]:
    model = gen.model
    if getattr(model, "alphas_cumprod", None) is None or not hasattr(model, "unet") or not hasattr(model, "cfg"):
        raise GenlabError(f"distillation: family '{model.family}' is not a U-Net diffusion model")
    stages = stage_schedule(teacher_steps, student_steps)
    for _, s in stages:
        check_nested(s, len(model.alphas_cumprod))
    if len(iterations) not in (1, len(stages)) or any(int(i) < 1 for i in iterations):
        raise GenlabError(f"distillation: iterations {list(iterations)}: one positive count, or one per stage "
                          f"({len(stages)})")
    if not 1 <= int(batch_size) <= 4096 or not 0 < float(lr) < 1 or not 0 <= float(guidance) <= 20:
        raise GenlabError(f"distillation: need 1 <= batch_size <= 4096, 0 < lr < 1, 0 <= guidance <= 20; got "
                          f"{batch_size}, {lr}, {guidance}")
    if float(guidance) != 1.0 and model.num_classes == 0:
        raise GenlabError("distillation: guidance needs a class-conditional teacher")
    if float(guidance) != 1.0 and gen.info.extra.get("distillation"):
        raise GenlabError("distillation: the teacher is already a distilled student (its guidance is baked in); "
                          "continue its chain with guidance 1")
    return stages


def distill(source: str | Path, out_dir: str | Path, *, teacher_steps: int = 16, student_steps: int = 1,
            iterations: int | Sequence[int] = 300, batch_size: int = 64, lr: float = 1e-4, guidance: float = 1.0,
            p_uncond: float | None = None, ema_decay: float = 0.995, seed: int = 0,
            data_dir: str | Path | None = None, device: str = "auto", command: str | None = None,
            progress: Progress | None = None) -> list[dict[str, Any]]:
    """Progressive distillation of the diffusion snapshot `source` from `teacher_steps` DDIM steps down to
    `student_steps` (halving each stage), on its own training images. iterations: per stage (one number for all,
    or one per stage); guidance: the teacher's classifier-free guidance weight, baked into the students (which are
    then sampled at guidance 1); p_uncond: label dropout (default: the teacher's). Returns one dict per stage (run
    directory, steps, iterations, first/last loss, CPU and wall seconds, skipped = already there)."""
    out = Path(out_dir)
    gen = load(source, device=device)
    iters = [int(iterations)] if isinstance(iterations, int) else [int(i) for i in iterations]
    stages = _check_request(gen, teacher_steps, student_steps, iters, batch_size, lr, guidance)
    iters = iters * len(stages) if len(iters) == 1 else iters
    p_uncond = float(gen.model.cfg.p_uncond if p_uncond is None else p_uncond)
    teacher, history, results = gen.model, list(gen.info.extra.get("distillation", {}).get("stages", [])), []
    for k, ((t_steps, s_steps), n_iter) in enumerate(zip(stages, iters)):
        run = out / f"steps-{s_steps}"
        snap = run / "snapshot.safetensors"
        if snap.is_file():  # done by an earlier call: it teaches the next stage
            done = load(snap, device=str(gen.device))
            teacher = done.model
            history = list(done.info.extra.get("distillation", {}).get("stages", []))
            results.append({"run_dir": str(run), "teacher_steps": t_steps, "student_steps": s_steps,
                            "skipped": True})
            continue
        student = _student(teacher)
        batches = _training_batches(gen, int(batch_size), seed + 1000 * k, data_dir)
        name = f"{t_steps}->{s_steps} steps"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        g = float(guidance) if k == 0 else 1.0  # later stages: the previous student already has it baked in
        student, res = distill_stage(
            teacher, student, batches, student_steps=s_steps, iterations=n_iter, lr=lr, guidance=g, p_uncond=p_uncond,
            ema=EMA(student, ema_decay), seed=seed + k,
            progress=None if progress is None else (lambda i, n, loss, name=name: progress(name, i, n, loss)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        stage = {"teacher_steps": t_steps, "student_steps": s_steps, "iterations": n_iter,
                 "batch_size": int(batch_size), "lr": float(lr), "ema_decay": float(ema_decay),
                 "guidance": g, "p_uncond": p_uncond,
                 "first_loss": res.first_loss, "last_loss": res.last_loss,
                 "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1)}
        history = [*history, stage]
        _save(student, gen, snap, s_steps, history, source, command)
        write_json(run / "losses.json", {"stage": stage, "losses": res.losses})
        teacher = student
        results.append({"run_dir": str(run), **stage, "skipped": False})
    return results


def _save(student: torch.nn.Module, gen: LoadedModel, path: Path, steps: int, history: list[dict[str, Any]],
          source: str | Path, command: str | None) -> None:
    """The student as a normal snapshot whose own sample settings are DDIM with its step count."""
    from genlab.report.model_card import write_model_card

    config = copy.deepcopy(gen.info.config or {})
    config["model"] = {**(config.get("model") or {}), "prediction": student.cfg.prediction}
    last = history[-1]
    config["train"] = {**(config.get("train") or {}), "batch_size": last["batch_size"], "lr": last["lr"],
                       "weight_decay": 0.0, "warmup_steps": 0, "lr_schedule": "constant", "ema_decay":
                       last["ema_decay"], "precision": "fp32", "max_steps": last["iterations"], "epochs": 0.0}
    sample = dict(config.get("sample") or {})
    sample.update({"sampler": "ddim", "steps": int(steps), "guidance": 1.0, "grid": "trailing", "eta": 0.0})
    config["sample"] = sample
    images = sum(s["iterations"] * s["batch_size"] for s in history)
    cpu = sum(s["cpu_seconds"] for s in history)
    extra = {"step": sum(s["iterations"] for s in history), "images_seen": images,
             "train_seconds": sum(s["wall_seconds"] for s in history), "train_cpu_seconds": cpu,
             "config": config, "dataset": gen.info.dataset,
             "distillation": {"method": "progressive (Salimans & Ho 2022)", **_origin(gen, source),
                              "stages": history}}
    save_snapshot(path, student, gen.info.codec, weights="ema", extra=extra)
    write_model_card(path, command=command or shlex.join(sys.argv))



def _origin(gen: LoadedModel, source: str | Path) -> dict[str, Any]:
    """The first teacher of the chain: `source` itself, or, when `source` is a student, the teacher it came from
    (with the student it continued from), so a chain split over several calls keeps one origin."""
    before = gen.info.extra.get("distillation") or {}
    if not before:
        return {"teacher": str(source), "teacher_step": gen.info.step}
    return {"teacher": before.get("teacher"), "teacher_step": before.get("teacher_step"),
            "continued_from": str(source)}


def save_half(source: str | Path, output: str | Path) -> Path:
    """A copy of a snapshot with its floating-point tensors stored as float16 (half the file; loading casts them
    back to the model's float32). For shipping small snapshots; the header is kept, with "stored_dtype"."""
    from safetensors.torch import save_file

    from genlab.checkpoints.snapshot import HEADER_KEY, read_header, read_tensors
    from genlab.inference import find_snapshot
    from genlab.utils.io import atomic_path

    path = find_snapshot(source)
    header = read_header(path)
    if not isinstance(header, dict):
        raise GenlabError(f"{path}: snapshot header is not a JSON object")
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in read_tensors(path).items()}
    if not all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point()):
        raise GenlabError(f"{path}: a weight overflows float16; keep this snapshot in float32")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: json.dumps({**header, "stored_dtype": "float16"})})
    return out
