"""`genlab likelihood` and `genlab train-classifier`: the score-based view's commands, thin over genlab.api.

Registered in cli/main.py as plain functions (``app.command()(likelihood)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from genlab.cli import checks
from genlab.cli.output import progress_bar
from genlab.errors import GenlabError


def likelihood(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name of a "
                                 "diffusion or score-sde model (PF-ODE), or of a VAE-type model (IWAE bound)."),
    n: int = typer.Option(256, "-n", "--n", min=1, max=100_000, help="Random images of the split to measure "
                          "(VAE: n >= the split size takes all of it, e.g. --n 10000 for the MNIST test set)."),
    k: str | None = typer.Option(None, "--k", help="VAE-type models: importance samples of the IWAE bound −L_k "
                                 "(1 = an ELBO sample; Burda et al. report k = 5000) [default: 5000]."),
    binarize: str = typer.Option("auto", help="VAE-type models: binarize the test images with a seeded stochastic "
                                 "draw: auto (when the decoder is Bernoulli), yes, no."),
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
    """Likelihood of n random real images. Diffusion / score-sde: exact bits per dimension by the probability-flow
    ODE (Hutchinson trace estimator, uniform dequantisation). VAE-type models: the importance-weighted bound −L_k
    in nats per image (Burda et al. 2016) on seeded-binarized images for a Bernoulli decoder. Prints JSON with the
    mean, its standard error and n."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    if _is_vae_type(source):
        k_value = 5000 if k is None else _parse_k(k)
        with progress_bar(f"IWAE likelihood (k = {k_value}) of up to {n} images", quiet) as bar:
            result = api.iwae_likelihood(source, k_value, n, split=split, seed=seed, binarize=binarize,
                                         device=device, data_dir=data_dir, progress=bar)
        _emit(result, output)
        return
    if k is not None:
        raise GenlabError(f"--k {k}: importance samples apply to VAE-type models; '{source}' is measured by the "
                          "PF-ODE (use --steps / --probes)")
    with progress_bar(f"PF-ODE likelihood of {n} images", quiet) as bar:
        result = api.likelihood(source, n, split=split, steps=steps, probes=probes, batch_size=batch_size, seed=seed,
                                device=device, data_dir=data_dir, progress=bar)
    _emit(result, output)


def _emit(result: dict, output: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if output is not None:
        output.write_text(text + "\n")
    typer.echo(text)


def _parse_k(text: str) -> int:
    """--k as an integer in [1, 100000], else a one-line GenlabError."""
    from genlab import api

    try:
        value = int(text)
    except ValueError:
        raise GenlabError(f"--k {text!r}: expected an integer number of importance samples in [1, 100000]") from None
    return api.check_importance_samples(value, "--k")


def _is_vae_type(source: str) -> bool:
    """True when SOURCE's family gives importance weights (reads the header only)."""
    from genlab import api

    return api.gives_importance_weights(source)


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
