"""`genlab latent …`: latent-space tools on a trained GAN, VAE or autoencoder (thin wrappers of genlab.api).

    genlab latent interpolate runs/mnist-vae --seed-a 0 --seed-b 7 --steps 10 -o strip.png
    genlab latent interpolate runs/mnist-ae --images 3 12 -o strip.png
    genlab latent arithmetic runs/mnist-vae --from 1 --to 7 -o arith.png
    genlab latent project runs/mnist-vae --method tsne -n 2000 -o tsne.png
    genlab latent anomaly runs/mnist-vae-no9 -o anomaly.json
    genlab latent anomaly --train-preset mnist-vae --normal 0,1,2,3,4,5,6,7,8 -o anomaly.json
    genlab latent regularity runs/mnist-vae -o regularity.json --prior prior.png
    genlab latent fit-density runs/mnist-sparse-ae -o runs/mnist-sparse-ae/snapshot-gmm.safetensors
    genlab latent traverse runs/sprites-tcvae --image 0 --rows 6 -o traversal.png
    genlab latent mig runs/sprites-tcvae -n 4000 -o mig.json

A SOURCE is always a snapshot: a file, a run directory or a pretrained name (never a preset to train); a model
without a latent gives a one-line error; so does regularity on a non-VAE. Output paths are checked before any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from genlab.cli import checks
from genlab.cli.output import write_grid
from genlab.errors import GenlabError

latent_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Latent-space tools for GANs, VAEs and autoencoders: interpolation strips, class-mean "
                              "vector arithmetic, 2-D projections, anomaly detection, VAE regularity, "
                              "the code density autoencoders sample from.")

_SOURCE = typer.Argument(..., help="Snapshot file, run directory or pretrained name.")
_N_HELP = "Number of real images (a seeded random subset of --split)."
# Options shared by every command (typer accepts one OptionInfo as the default of several commands).
_SPLIT = typer.Option("test", help="Dataset split.")
_SEED = typer.Option(0, min=0, help="Seed of the image subset.")
_DATASET = typer.Option(None, help="Dataset (default: the one in the snapshot's config).")
_DATA_DIR = typer.Option(None, "--data-dir", help="Data directory (else the run's / env).")
_DEVICE = typer.Option("auto", help="auto, cpu, cuda or cuda:N.")


def _data_opts(split: str, dataset: str | None, data_dir: Path | None) -> dict:
    return {"split": split, "dataset": dataset, "data_dir": data_dir}


@latent_app.command()
def interpolate(
    source: str = _SOURCE,
    seed_a: int = typer.Option(0, "--seed-a", min=0, help="Seed of the first endpoint (its sample from `genlab "
                               "sample`)."),
    seed_b: int = typer.Option(1, "--seed-b", min=0, help="Seed of the second endpoint."),
    images: tuple[int, int] | None = typer.Option(None, "--images",
                                                  help="Two dataset indices to encode instead of seeds."),
    steps: int = typer.Option(8, min=2, max=256, help="Images in the strip, endpoints included."),
    method: str = typer.Option("slerp", help="slerp (great circle, keeps the prior's norm) or lerp."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class of the strip (conditional models) "
                                           "[default: one strip per class, each keeping its class]."),
    output: Path = typer.Option(Path("interpolation.png"), "-o", "--output", help="Strip PNG to write."),
    split: str = typer.Option("test", help="Dataset split for --images."),
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Decode a straight (lerp) or spherical (slerp) path between two seeds or two encoded images."""
    from genlab import api

    checks.output_file(output, suffixes=(".png",))
    for option, seed in (("--seed-a", seed_a), ("--seed-b", seed_b)):
        checks.seed_range(seed, 1, api.MAX_SEED, option)
    info = api.snapshot_info(source)
    classes = [class_label] if class_label is not None or not info.num_classes else list(range(info.num_classes))
    strips = [api.interpolate(source, seed_a, seed_b, images=images, steps=steps, method=method, label=k,
                              device=device, **_data_opts(split, dataset, data_dir)).images for k in classes]
    write_grid(np.concatenate([strip.numpy() for strip in strips]), output, nrow=steps, scale=2)
    ends = f"images {images[0]}..{images[1]}" if images else f"seeds {seed_a}..{seed_b}"
    rows = f", one strip per class 0..{len(classes) - 1}" if len(classes) > 1 else ""
    typer.echo(f"wrote a {steps}-step {method} strip ({ends}{rows}) to {output}")


@latent_app.command()
def arithmetic(
    source: str = _SOURCE,
    from_class: int = typer.Option(..., "--from", help="Class whose images are moved."),
    to_class: int = typer.Option(..., "--to", help="Class they are moved towards."),
    n: int = typer.Option(1000, "-n", min=2, max=100_000, help=_N_HELP),
    rows: int = typer.Option(8, min=1, max=256, help="Images of --from shown, one per row."),
    scales: str = typer.Option("0,0.5,1,1.5", help="Comma-separated multiples of the class-mean difference."),
    output: Path = typer.Option(Path("arithmetic.png"), "-o", "--output", help="Grid PNG to write."),
    split: str = _SPLIT,
    seed: int = _SEED,
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Add s·(mean code of --to − mean code of --from) to encoded images of --from and decode them."""
    from genlab import api

    checks.output_file(output, suffixes=(".png",))
    try:
        factors = [float(s) for s in scales.split(",") if s.strip()]
    except ValueError:
        raise GenlabError(f"--scales '{scales}': expected comma-separated numbers, e.g. 0,0.5,1") from None
    res = api.arithmetic(source, from_class, to_class, n=n, rows=rows, scales=factors, out=output, seed=seed,
                         device=device, **_data_opts(split, dataset, data_dir))
    typer.echo(f"wrote {res.images.shape[0]} rows x {len(factors)} scales ({from_class} -> {to_class}) to {res.path}")


@latent_app.command()
def project(
    source: str = _SOURCE,
    method: str = typer.Option("pca", help="pca, tsne, or umap (if umap-learn is installed)."),
    n: int = typer.Option(2000, "-n", min=3, max=100_000, help=_N_HELP),
    output: Path = typer.Option(Path("projection.png"), "-o", "--output", help="Scatter PNG to write."),
    split: str = _SPLIT,
    seed: int = typer.Option(0, help="Seed of the image subset and of t-SNE/UMAP."),
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Plot the encoded means of real images in 2-D, coloured by label (GANs encode by slow inversion)."""
    from genlab import api

    checks.output_file(output, suffixes=(".png",))
    res = api.project(source, method, n, out=output, seed=seed, device=device, **_data_opts(split, dataset, data_dir))
    typer.echo(f"wrote a {method} projection of {len(res.points)} images to {res.path}")


@latent_app.command()
def anomaly(
    source: str | None = typer.Argument(None, metavar="[SOURCE]", help="Snapshot file, run directory or pretrained "
                                        "name (omit with --train-preset)."),
    train_preset: str | None = typer.Option(None, "--train-preset", help="Train this preset on the --normal "
                                            "classes first (into runs/<preset>-normal-<classes>), then score it."),
    normal: str | None = typer.Option(None, "--normal",
                                      help="Comma-separated normal classes (default: the run's data.classes)."),
    n: int = typer.Option(2000, "-n", min=2, max=100_000, help=_N_HELP),
    threshold: float | None = typer.Option(None, help="Score threshold (default: --quantile of normal scores)."),
    quantile: float = typer.Option(0.95, min=0.0, max=1.0, help="Quantile of normal scores used as threshold."),
    score: str = typer.Option("mse", help="mse (reconstruction error), elbo (VAE -ELBO) or latent (VAE code norm)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="JSON report to write."),
    split: str = _SPLIT,
    seed: int = _SEED,
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Score held-out classes (reconstruction error, VAE -ELBO or code norm): ROC AUC, AP, precision/recall/F1."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    try:
        classes = [int(k) for k in normal.split(",")] if normal else None
    except ValueError:
        raise GenlabError(f"--normal '{normal}': expected comma-separated class numbers, e.g. 0,1,2") from None
    source = _anomaly_source(source, train_preset, classes)
    res = api.anomaly(source, classes, n=n, threshold=threshold, normal_quantile=quantile, score=score,
                      out_json=output, seed=seed, device=device, **_data_opts(split, dataset, data_dir))
    r = res.report
    typer.echo(f"ROC AUC {r.roc_auc:.4f}, AP {r.average_precision:.4f}; at threshold {r.threshold:.4g}: precision "
               f"{r.precision:.3f} recall {r.recall:.3f} F1 {r.f1:.3f} ({r.num_normal} normal, {r.num_anomalous} "
               f"anomalous)" + (f"; wrote {res.path}" if res.path else ""))
    per = ", ".join(f"{k}: {v:.3f}" for k, v in res.auc_per_held_out_class.items())
    typer.echo(f"ROC AUC per held-out class: {per}")


def _anomaly_source(source: str | None, preset: str | None, classes: list[int] | None) -> str:
    """The snapshot to score: SOURCE (a pretrained name means the shipped snapshot, as in every command), or the run
    of --train-preset trained on the --normal classes. Checked before any scoring or training."""
    from genlab import api

    if (source is None) == (preset is None):
        raise GenlabError("give either SOURCE (a snapshot, run directory or pretrained name) or --train-preset PRESET")
    if preset is not None:
        if not classes:
            raise GenlabError("--train-preset trains on the normal classes only: pass --normal, e.g. --normal 0,1,2")
        listed = ",".join(map(str, classes))
        run_dir = f"runs/{preset}-normal-{''.join(map(str, classes))}"
        result = api.train(preset, [f"data.classes=[{listed}]", f"run_dir={run_dir}"], progress=True)
        return str(result.run_dir)
    info = api.snapshot_info(source)
    trained_on = info.data_config.get("classes")
    if not classes and not trained_on:
        raise GenlabError(f"{source} was trained on every class: pass --normal with the classes to treat as normal "
                          "(the others are scored as anomalies), e.g. --normal 0,1,2,3,4,5,6,7,8")
    return str(api.find_snapshot(source))


@latent_app.command()
def regularity(
    source: str = _SOURCE,
    n: int = typer.Option(2000, "-n", min=2, max=100_000, help=_N_HELP),
    output: Path | None = typer.Option(None, "-o", "--output", help="JSON report to write (else stdout)."),
    prior: Path | None = typer.Option(None, "--prior", help="Also write a grid of 64 prior samples (PNG)."),
    split: str = _SPLIT,
    seed: int = _SEED,
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """VAE only: per-dimension KL, active units, aggregate posterior vs N(0, I), prior samples."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    if prior is not None:
        checks.output_file(prior, "--prior", suffixes=(".png",))
    stats = api.regularity(source, n, out_json=output, prior_out=prior, seed=seed, device=device,
                           **_data_opts(split, dataset, data_dir))
    if output is None:
        typer.echo(json.dumps(stats, indent=2))
        return
    typer.echo(f"KL {stats['kl_total']:.2f} nats over {stats['num_dims']} dims, {stats['active_units']} active "
               f"units, Fréchet to N(0, I) {stats['frechet_to_prior']:.3f}; wrote {output}")


@latent_app.command("fit-density")
def fit_density(
    source: str = _SOURCE,
    output: Path = typer.Option(..., "-o", "--output", help="Snapshot (.safetensors) to write with the fitted "
                                "mixture."),
    n: int = typer.Option(5000, "-n", min=2, max=100_000, help=_N_HELP),
    split: str = typer.Option("train", help="Dataset split."),
    seed: int = typer.Option(0, help="Seed of the image subset and of the mixture's initial means."),
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Autoencoders: fit the Gaussian mixture their samples are drawn from to the codes of real images."""
    from genlab import api

    checks.output_file(output, suffixes=(".safetensors",))
    stats = api.fit_density(source, output, n, seed=seed, device=device, **_data_opts(split, dataset, data_dir))
    typer.echo(f"fitted {stats['components']} components to the codes of {stats['num_images']} {split} images "
               f"(mean log-likelihood {stats['density_log_likelihood']:.2f} nats, "
               f"{int(stats['density_iterations'])} EM iterations); wrote {stats['path']}")


def _numbers(text: str, option: str, kind: type = float) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GenlabError(f"{option} '{text}': expected comma-separated {'integers' if kind is int else 'numbers'}, "
                          "e.g. -2,0,2") from None


@latent_app.command()
def traverse(
    source: str = _SOURCE,
    dims: str | None = typer.Option(None, "--dims", help="Comma-separated latent dimensions, one row each "
                                    "[default: the --rows most varied]."),
    rows: int = typer.Option(8, min=1, max=64, help="Rows when --dims is not given."),
    values: str = typer.Option("-2.5,-1.875,-1.25,-0.625,0,0.625,1.25,1.875,2.5", "--values",
                               help="Comma-separated positions, in stds of the codes along each dimension."),
    image: int | None = typer.Option(None, "--image", min=0, help="Start from this encoded --split image "
                                     "[default: the prior sample of --seed]."),
    seed: int = typer.Option(0, min=0, help="Seed of the starting latent when no --image is given."),
    n: int = typer.Option(500, "-n", min=2, max=100_000, help="Codes used for each dimension's mean and std."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class (conditional models)."),
    output: Path = typer.Option(Path("traversal.png"), "-o", "--output", help="Grid PNG to write."),
    split: str = _SPLIT,
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Latent traversal grid: one row per dimension, set to each of --values while the others stay put."""
    from genlab import api

    checks.output_file(output, suffixes=(".png",))
    chosen = _numbers(dims, "--dims", int) if dims else None
    positions = _numbers(values, "--values")
    if not positions or len(positions) > 64:
        raise GenlabError(f"--values '{values}': expected 1 to 64 numbers")
    res, used = api.traverse(source, dims=chosen, rows=rows, values=positions, image=image, seed=seed, n=n,
                             label=class_label, out=output, device=device, **_data_opts(split, dataset, data_dir))
    start = f"image {image} of {split}" if image is not None else f"the prior sample of seed {seed}"
    typer.echo(f"wrote a {len(used)} x {len(positions)} traversal (dims {', '.join(map(str, used))}) from {start} "
               f"to {res.path}")


@latent_app.command()
def mig(
    source: str = _SOURCE,
    n: int = typer.Option(4000, "-n", min=2, max=100_000, help=_N_HELP),
    bins: int = typer.Option(20, min=2, max=1000, help="Equal-width bins per code dimension."),
    output: Path | None = typer.Option(None, "-o", "--output", help="JSON report to write."),
    split: str = _SPLIT,
    seed: int = _SEED,
    dataset: str | None = _DATASET,
    data_dir: Path | None = _DATA_DIR,
    device: str = _DEVICE,
) -> None:
    """Mutual information gap (Chen et al. 2018) of the codes against a data set's generative factors (dsprites)."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".json",))
    res = api.disentanglement(source, n, bins=bins, seed=seed, device=device, **_data_opts(split, dataset, data_dir))
    if output is not None:
        output.write_text(json.dumps(res, indent=2) + "\n")
    per = ", ".join(f"{k} {v:.3f}" for k, v in res["per_factor"].items())
    typer.echo(f"MIG {res['mig']:.4f} (n = {res['n']} {split} images, {res['bins']} bins); per factor: {per}"
               + (f"; wrote {output}" if output else ""))
