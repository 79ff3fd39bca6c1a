"""`genlab inspect ...`: debugging visualisations of a diffusion snapshot as PNGs, thin over genlab.api (issue 19
part 6): attention maps, feature maps, the denoising trajectory and the per-timestep loss profile.

Registered in cli/main.py as a sub-command group (``app.add_typer(inspect_app, name="inspect")``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from genlab.cli import checks

inspect_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Look inside a diffusion snapshot: attention and feature maps at chosen timesteps, "
                               "the denoising trajectory, the training loss per timestep (PNGs).")

_SOURCE = typer.Argument(..., metavar="SOURCE", help="A diffusion snapshot file, run directory or pretrained name "
                         "(e.g. mnist-ddpm).")
_TS = typer.Option(None, "-t", "--t", help="Training timestep 0..T-1 to look at (repeat: -t 900 -t 500 -t 100) "
                   "[default: 900, 500, 100].")
_DATA = typer.Option(None, "--data-dir", help="Data directory of the real images (else the run's, $GENLAB_DATA_DIR, "
                     "./data).")


def _real(api, source: str, n: int, seed: int, data_dir: Path | None, gen):
    """n seeded test images of the snapshot's dataset in model space, and their labels (None: unconditional)."""
    images, labels = api.real_images(source, n, seed=seed, data_dir=data_dir)
    x0 = gen.codec.encode(images)
    return x0, (None if gen.num_classes == 0 or labels is None else labels)


def _load(source: str, output: Path, device: str):
    from genlab import api

    checks.output_file(output, suffixes=(".png",))
    api.pick_device(device)
    info = api.snapshot_info(source)
    if "steps" not in info.capabilities.sampling_options or info.capabilities.latent_kind != "noise":
        raise api.GenlabError(f"genlab inspect needs a diffusion snapshot, got family '{info.family}'")
    return api, api.load(source, device=device)


@inspect_app.command("attention")
def attention(
    source: str = _SOURCE,
    t: list[int] | None = _TS,
    n: int = typer.Option(1, "-n", min=1, max=64, help="Real test images to run (the figure shows --image)."),
    image: int = typer.Option(0, min=0, help="Which of the n images to draw."),
    query: int | None = typer.Option(None, min=0, help="Query position (row-major on the layer's grid) [default: "
                                     "the centre]."),
    layer: list[str] | None = typer.Option(None, help="Attention layer name (repeatable) [default: all]."),
    seed: int = typer.Option(0, min=0, help="Seed of the image subset and of the noise."),
    data_dir: Path | None = _DATA,
    output: Path = typer.Option(Path("attention.png"), "-o", "--output", help="PNG to write."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Attention maps: where the query position looks in every attention layer at each timestep (mean over heads),
    over the image; the weights are recomputed from each layer's input with its own projections."""
    api, gen = _load(source, output, device)
    x0, labels = _real(api, source, n, seed, data_dir, gen)
    if image >= n:
        raise api.GenlabError(f"--image {image}: expected 0..{n - 1} (one of the -n {n} images)")
    maps = api.attention_maps(gen, x0, t or [900, 500, 100], labels, layers=layer, seed=seed)
    api.save_attention_maps(maps, output, image=image, query=query, background=x0[image])
    shapes = ", ".join(f"{k} {tuple(v.weights.shape[2:])}" for k, v in maps.items())
    typer.echo(f"wrote {output}: {len(maps)} attention layers (heads, queries, keys): {shapes}")


@inspect_app.command("features")
def features(
    source: str = _SOURCE,
    t: list[int] | None = _TS,
    layer: list[str] | None = typer.Option(None, help="Module name (repeatable), e.g. down.1.0 or mid.1 [default: "
                                           "every U-Net stage block]."),
    channels: int = typer.Option(4, min=1, max=64, help="Channels drawn per layer."),
    seed: int = typer.Option(0, min=0, help="Seed of the image and of the noise."),
    data_dir: Path | None = _DATA,
    output: Path = typer.Option(Path("features.png"), "-o", "--output", help="PNG to write."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Feature maps: the output of U-Net blocks (forward hooks) for one real test image noised to each timestep."""
    api, gen = _load(source, output, device)
    x0, labels = _real(api, source, 1, seed, data_dir, gen)
    ts = t or [900, 500, 100]
    maps = api.feature_maps(gen, x0, ts, labels, layers=layer, seed=seed)
    api.save_feature_maps(maps, ts, output, channels=channels)
    shapes = ", ".join(f"{k} {tuple(v.shape[2:])}" for k, v in maps.items())
    typer.echo(f"wrote {output}: {len(maps)} layers x {len(ts)} timesteps; output shapes {shapes}")


@inspect_app.command("trajectory")
def trajectory(
    source: str = _SOURCE,
    seed: int = typer.Option(0, min=0, help="Seed of the sample."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class (conditional models) [default: "
                                           "seed mod K]."),
    sampler: str = typer.Option("ddim", help="Sampler (a wrong name lists all)."),
    steps: int = typer.Option(10, min=1, max=1000, help="Sampler steps."),
    guidance: float = typer.Option(1.0, min=0.0, max=20.0, help="Classifier-free guidance weight."),
    output: Path = typer.Option(Path("trajectory.png"), "-o", "--output", help="PNG to write."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """The denoising trajectory of one sample: the state x_t at each sampler step and the denoiser's x̂0 prediction."""
    from genlab import api

    checks.known_sampler(sampler, tuple(api.SAMPLERS))
    api, gen = _load(source, output, device)
    traj = api.trajectory(gen, [seed], class_label, sampler=sampler, steps=steps, guidance=guidance)
    api.save_trajectory(traj, output)
    typer.echo(f"wrote {output}: {sampler}, {traj.nfe} denoiser calls, t = {traj.timesteps}")


@inspect_app.command("loss")
def loss(
    source: str = _SOURCE,
    n: int = typer.Option(256, "-n", min=1, max=10_000, help="Real test images."),
    points: int = typer.Option(50, min=1, max=1000, help="Timesteps, evenly spaced over 0..T-1."),
    seed: int = typer.Option(0, min=0, help="Seed of the image subset and of the noise."),
    data_dir: Path | None = _DATA,
    output: Path = typer.Option(Path("loss_profile.png"), "-o", "--output", help="PNG to write."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write t, loss and x0_mse as JSON here."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """The per-timestep loss profile: the model's training loss (and the x̂0 MSE) against t on real test images."""
    if json_out is not None:
        checks.output_file(json_out, "--json", suffixes=(".json",))
    api, gen = _load(source, output, device)
    x0, labels = _real(api, source, n, seed, data_dir, gen)
    prof = api.loss_profile(gen, x0, labels, num_points=points, seed=seed)
    api.save_loss_profile(prof, output)
    if json_out is not None:
        json_out.write_text(json.dumps({"source": source, "n": prof.n, "prediction": prof.prediction,
                                        "t": prof.t.tolist(), "loss": prof.loss.tolist(),
                                        "x0_mse": prof.x0_mse.tolist()}, indent=1) + "\n")
    worst = int(prof.t[prof.loss.argmax()])
    typer.echo(f"wrote {output}: loss at {len(prof.t)} timesteps on n = {prof.n} images; mean {prof.loss.mean():.4g}, "
               f"highest at t = {worst} ({prof.loss.max():.4g})")
