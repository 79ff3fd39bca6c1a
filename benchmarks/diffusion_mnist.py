"""Diffusion on real MNIST: training throughput, sampling throughput per network evaluation (fp32 vs bf16),
achieved GFLOP/s as a fraction of this machine's matmul peak (measured in the same run), and a budgeted training run
with its loss curve.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296 \
    python benchmarks/diffusion_mnist.py --data-dir ../shared/data --minutes 5 --out benchmarks/results/diffusion_mnist.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import autocast, emit, machine_info, matmul_peak_gflops
from torch.utils.flop_counter import FlopCounterMode

from genlab import api
from genlab.training.loop import Trainer


def time_train_steps(trainer: Trainer, precision: str, steps: int) -> float:
    """Seconds per optimisation step (median of `steps` after one warm-up step)."""
    trainer.cfg.train.precision = precision
    x, y = trainer.next_batch()
    trainer.train_step(x, y)
    times = []
    for _ in range(steps):
        x, y = trainer.next_batch()
        t0 = time.perf_counter()
        trainer.train_step(x, y)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def train_step_flops(trainer: Trainer) -> int:
    x, y = trainer.next_batch()
    with FlopCounterMode(display=False) as counter:
        loss, _ = trainer.model("model", x, y)
        loss.backward()
    trainer.model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def sampling_rate(model, precision: str, batch: int, steps: int) -> float:
    """Images × network evaluations per second (DDIM, so one evaluation per step; guidance off)."""
    seeds = list(range(batch))
    labels = torch.arange(batch) % max(1, model.num_classes) if model.num_classes else None
    with torch.no_grad(), autocast(precision):
        model.generate(seeds[:8], labels[:8] if labels is not None else None, sampler="ddim", steps=2)
        t0 = time.perf_counter()
        model.generate(seeds, labels, sampler="ddim", steps=steps)
    return batch * steps / (time.perf_counter() - t0)


def run_summary(run: Path, wall_s: float | None) -> dict:
    """Throughput and loss curve of a finished run, from its snapshot header and scalars.jsonl."""
    header = api.load(run).header
    log = run / "scalars.jsonl"
    curve = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    return {"run_dir": str(run), "train_minutes": round(header["train_seconds"] / 60, 2),
            "wall_minutes": round(wall_s / 60, 2) if wall_s else None, "steps": header["step"],
            "images_seen": header["images_seen"],
            "images_per_s": round(header["images_seen"] / max(header["train_seconds"], 1e-9), 1),
            "loss_curve": [[r["step"], r["loss"]] for r in curve]}


def run_budget(args, over: list[str], run_dir: Path) -> dict:
    budget = api.resolve_config(args.preset, over + [f"run_dir={run_dir / 'budget'}",
                                                     f"train.time_limit_min={args.minutes}", "train.log_every=10"])
    t0 = time.perf_counter()
    result = api.train(budget, progress=False)
    return {"minutes_budget": args.minutes, **run_summary(result.run_dir, time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--preset", default="mnist-diffusion-quick")
    ap.add_argument("--minutes", type=float, default=5.0, help="CPU-time budget of the training run")
    ap.add_argument("--timing-steps", type=int, default=6)
    ap.add_argument("--sample-batch", type=int, default=256)
    ap.add_argument("--from-run", default=None,
                    help="report this finished run's throughput and loss curve instead of training a new one")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    over = [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    run_dir = Path(tempfile.mkdtemp(prefix="genlab-bench-"))
    cfg = api.resolve_config(args.preset, over + [f"run_dir={run_dir / 'timing'}"])
    trainer = Trainer(cfg, progress=False)
    params = sum(p.numel() for p in trainer.model.parameters())
    peak = {p: matmul_peak_gflops(p) for p in ("fp32", "bf16")}
    flops = train_step_flops(trainer)
    step_s = {p: time_train_steps(trainer, p, args.timing_steps) for p in ("fp32", "bf16")}
    # Threads side by side: on a shared 2-core machine OpenMP's spinning threads can make 2 slower than 1.
    default_threads = torch.get_num_threads()
    thread_s = {}
    for n in sorted({1, default_threads}):
        torch.set_num_threads(n)
        thread_s[n] = time_train_steps(trainer, "fp32", args.timing_steps)
    torch.set_num_threads(default_threads)
    batch = cfg.train.batch_size
    sample = {p: sampling_rate(trainer.model.eval(), p, args.sample_batch, 10) for p in ("fp32", "bf16")}
    # Sampling FLOPs per image and evaluation (forward only, fp32 accounting).
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        trainer.model.generate(list(range(8)), torch.arange(8) % 10 if trainer.model.num_classes else None,
                               sampler="ddim", steps=1)
    fwd_flops_per_image = counter.get_total_flops() / 8

    budget_run = run_budget(args, over, run_dir) if not args.from_run else run_summary(Path(args.from_run), None)

    emit({
        "benchmark": "diffusion_mnist", "machine": machine_info(), "preset": args.preset, "parameters": params,
        "batch_size": batch,
        "matmul_peak_gflops": {k: round(v, 1) for k, v in peak.items()},
        "train_step": {
            p: {"seconds": round(step_s[p], 3), "images_per_s": round(batch / step_s[p], 1),
                "gflops_per_s": round(flops / step_s[p] / 1e9, 1),
                "fraction_of_peak": round(flops / step_s[p] / 1e9 / peak[p], 3)} for p in step_s},
        "train_step_gflop": round(flops / 1e9, 2),
        "fp32_step_seconds_by_threads": {str(k): round(v, 3) for k, v in thread_s.items()},
        "load_average_at_start": list(os.getloadavg()),
        "bf16_speedup_train": round(step_s["fp32"] / step_s["bf16"], 2),
        "sampling_images_x_nfe_per_s": {p: round(v, 1) for p, v in sample.items()},
        "sampling_fraction_of_peak": {p: round(v * fwd_flops_per_image / 1e9 / peak[p], 3) for p, v in sample.items()},
        "bf16_speedup_sampling": round(sample["bf16"] / sample["fp32"], 2),
        "budget_run": budget_run,
        "command": "python " + " ".join(sys.argv),
    }, args.out)


if __name__ == "__main__":
    main()
