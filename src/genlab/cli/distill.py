"""`genlab distill`: few-step students of a diffusion snapshot by progressive distillation, thin over genlab.api.

Registered in cli/main.py as a plain function (``app.command()(distill)``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from genlab.cli import checks


def distill(
    source: str = typer.Argument(..., metavar="SOURCE", help="Teacher: a diffusion snapshot file, run directory or "
                                 "pretrained name (e.g. mnist-ddpm)."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory for the students: one run directory "
                                "OUTPUT/steps-N per stage (sample it with `genlab sample OUTPUT/steps-N`)."),
    teacher_steps: int = typer.Option(16, "--teacher-steps", min=2, max=1024, help="DDIM steps of the teacher "
                                      "(the first stage's student takes half)."),
    student_steps: int = typer.Option(1, "--student-steps", min=1, max=512, help="DDIM steps of the last student; "
                                      "teacher-steps / student-steps must be a power of two."),
    iterations: str = typer.Option("300", help="Optimiser steps per stage: one number, or one per stage separated "
                                   "by commas (e.g. 150,300,400,400 for 16 -> 1)."),
    batch_size: int = typer.Option(64, min=1, max=4096, help="Training images per step."),
    lr: float = typer.Option(1e-4, min=1e-7, max=0.1, help="Adam learning rate."),
    guidance: float = typer.Option(1.0, min=0.0, max=20.0, help="Teacher's classifier-free guidance weight, baked "
                                   "into the students (sample them at guidance 1)."),
    ema_decay: float = typer.Option(0.995, min=0.0, max=0.99999, help="EMA decay of the student's weights."),
    seed: int = typer.Option(0, min=0, help="Seed of the batches, noise levels and noise."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else the run's, "
                                         "$GENLAB_DATA_DIR, ./data)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Progressive distillation (Salimans & Ho 2022): each stage trains a student to take in one DDIM step what its
    teacher takes in two (16 -> 8 -> 4 -> 2 -> 1). A stage whose OUTPUT/steps-N exists is reused, not retrained, so
    stages can run one command at a time."""
    from tqdm import tqdm

    from genlab import api

    checks.output_dir(output, "-o")
    try:
        iters = [int(v) for v in iterations.split(",")]
    except ValueError:
        raise api.GenlabError(f"--iterations {iterations!r}: expected a number or comma-separated numbers") from None
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    api.snapshot_info(source)  # a bad SOURCE is one line before any data is read
    bars: dict[str, tqdm] = {}

    def progress(stage: str, i: int, n: int, loss: float) -> None:
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=n, desc=f"distilling {stage}", disable=quiet,
                                                             unit="it", dynamic_ncols=True))
        bar.update(i - bar.n)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if i == n:
            bar.close()

    results = api.distill(source, output, teacher_steps=teacher_steps, student_steps=student_steps,
                          iterations=iters[0] if len(iters) == 1 else iters, batch_size=batch_size, lr=lr,
                          guidance=guidance, ema_decay=ema_decay, seed=seed, data_dir=data_dir, device=device,
                          command=shlex.join(["genlab", *sys.argv[1:]]), progress=progress)
    for r in results:
        if r["skipped"]:
            typer.echo(f"{r['run_dir']}: {r['student_steps']}-step student already there (teacher for the next stage)")
        else:
            typer.echo(f"{r['run_dir']}: {r['teacher_steps']} -> {r['student_steps']} steps, {r['iterations']} "
                       f"iterations, loss {r['first_loss']:.4g} -> {r['last_loss']:.4g}, "
                       f"{r['cpu_seconds'] / 60:.1f} min process CPU time ({r['wall_seconds'] / 60:.1f} min wall)")
    last = results[-1]["run_dir"] if results else output
    typer.echo(f"sample the last student with: genlab sample {last}")
