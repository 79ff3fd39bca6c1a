"""`genlab anomaly` (one-class anomaly-detection protocol) and `genlab probe` (linear probe on frozen codes), thin
over genlab.api. Registered in cli/main.py as plain functions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from genlab.cli import checks
from genlab.errors import GenlabError


def _write(result: dict, output: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if output is not None:
        output.write_text(text + "\n")
    typer.echo(text)


def _classes(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GenlabError(f"--classes {text!r}: expected comma-separated class indices, e.g. 0,1,2") from None
    if not values or any(not 0 <= v <= 9 for v in values):
        raise GenlabError(f"--classes {text!r}: expected class indices in 0..9")
    return values


def anomaly(
    dataset: str = typer.Option("mnist", help="mnist or fashion-mnist (labelled, 10 classes)."),
    classes: str = typer.Option("0,1,2,3,4,5,6,7,8,9", help="Normal classes to run, one model each "
                                "(comma-separated)."),
    steps: int = typer.Option(450, min=1, max=1_000_000, help="Training steps of each one-class VAE."),
    batch_size: int = typer.Option(64, min=2, max=4096, help="Images per training step."),
    k: int = typer.Option(5, min=1, max=100_000, help="Importance samples of the IWAE score."),
    test_limit: int | None = typer.Option(None, min=10, help="Score a seeded random subset of the test set "
                                          "[default: all of it]."),
    seed: int = typer.Option(0, min=0, help="Seed of the validation split, initialisation and batches."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else $GENLAB_DATA_DIR, ./data)."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also write the result as JSON here."),
) -> None:
    """One-class anomaly detection (Ruff et al. 2018 protocol): for each class, train a small VAE on that class's
    training images only; the test set's other classes are the anomalies. Reports ROC AUC, PR AUC and F1 (threshold:
    95th percentile of 10 % held-out normal training images) for the -ELBO, -IWAE, reconstruction-error,
    latent-density and recon+latent scores and a pixel-PCA baseline, per class and averaged. About 1.5 CPU-minutes
    per class on a 2-core CPU."""
    import sys

    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    if threads:
        api.set_threads(threads)
    result = api.one_class_anomaly(dataset, _classes(classes), steps=steps, batch_size=batch_size, k=k,
                                   test_limit=test_limit, seed=seed, data_dir=data_dir,
                                   log=lambda s: print(s, file=sys.stderr, flush=True))
    _write(result, output)


def probe(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name of a "
                                 "model with an encoder (ae, dae, sparse-ae, vae, ...)."),
    n_train: int = typer.Option(10_000, min=10, max=1_000_000, help="Seeded random training images for the probe."),
    n_test: int | None = typer.Option(None, min=10, help="Seeded random test images [default: all]."),
    pixels: bool = typer.Option(True, help="Also fit the raw-pixel baseline probe."),
    seed: int = typer.Option(0, min=0, help="Seed of the image subsets."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else the run's, "
                                         "$GENLAB_DATA_DIR, ./data)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also write the result as JSON here."),
) -> None:
    """Linear probe: accuracy of a logistic regression on frozen codes (train codes -> test codes), beside the
    chance level and the same probe on raw pixels."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    api.pick_device(device)
    _write(api.probe(source, n_train=n_train, n_test=n_test, seed=seed, data_dir=data_dir, device=device,
                     pixels=pixels), output)
