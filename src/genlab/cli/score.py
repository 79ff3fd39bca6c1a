"""`genlab likelihood` and `genlab train-classifier`: the score-based view's commands, thin over genlab.api.

Registered in cli/main.py as plain functions (``app.command()(likelihood)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from genlab.cli import checks
from genlab.cli.output import progress_bar


def likelihood(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name of a "
                                 "diffusion or score-sde model."),
    n: int = typer.Option(256, "-n", min=1, max=100_000, help="Random images of the split to measure."),
    split: str = typer.Option("test", help="Dataset split (the model's own dataset)."),
    steps: int = typer.Option(100, min=1, max=10_000, help="Noise levels of the probability-flow ODE solve (Heun; "
                              "2 network evaluations each, with a backward pass)."),
    probes: int = typer.Option(1, min=1, max=64, help="Hutchinson probe vectors per image (Rademacher)."),
    batch_size: int = typer.Option(64, min=1, max=4096, help="Images per ODE solve."),
    seed: int = typer.Option(0, min=0, help="Seed of the image subset, the dequantisation noise and the probes."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else the run's, "
                                         "$GENLAB_DATA_DIR, ./data)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also write the result as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Exact likelihood in bits per dimension by the probability-flow ODE (Hutchinson trace estimator), on n random
    real images with uniform dequantisation. Prints JSON with the mean, its standard error and n."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    with progress_bar(f"PF-ODE likelihood of {n} images", quiet) as bar:
        result = api.likelihood(source, n, split=split, steps=steps, probes=probes, batch_size=batch_size, seed=seed,
                                device=device, data_dir=data_dir, progress=bar)
    text = json.dumps(result, indent=2)
    if output is not None:
        output.write_text(text + "\n")
    typer.echo(text)


def train_classifier(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot of the diffusion / score-sde model to guide "
                                 "(the classifier learns at its noise levels, on its dataset)."),
    output: Path = typer.Option(..., "-o", "--output", help="Classifier file to write (.safetensors)."),
    steps: int = typer.Option(1000, min=1, max=1_000_000, help="Optimiser steps."),
    batch_size: int = typer.Option(128, min=1, max=4096, help="Images per step."),
    lr: float = typer.Option(1e-3, min=1e-6, max=1.0, help="AdamW learning rate (cosine decay to 0)."),
    base_channels: int = typer.Option(32, min=4, max=512, help="Width of the classifier's first level."),
    limit: int | None = typer.Option(None, min=10, help="Train on this many random training images [default: all]."),
    seed: int = typer.Option(0, min=0, help="Seed of the noise, batches and initialisation."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else the run's, "
                                         "$GENLAB_DATA_DIR, ./data)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a noise-conditional classifier p(y | x_t, t) for classifier guidance of SOURCE; then sample with
    `genlab sample SOURCE --classifier FILE --classifier-scale S`."""
    from genlab import api

    checks.output_file(output, "-o", suffixes=(".safetensors",))
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    with progress_bar("training the noisy classifier", quiet) as bar:
        result = api.train_classifier(source, output, steps=steps, batch_size=batch_size, lr=lr,
                                      base_channels=base_channels, limit=limit, seed=seed, device=device,
                                      data_dir=data_dir, progress=lambda step, _logs: bar(step, steps))
    typer.echo(json.dumps(result, indent=2))
