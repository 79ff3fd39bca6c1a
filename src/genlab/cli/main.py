"""The `genlab` command: thin commands that parse, validate and call genlab.api."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from genlab.errors import GenlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="genlab: train, sample, evaluate and serve generative models (diffusion, GANs, VAEs, "
                       "autoencoders) on images, channel facies and audio.")

# glibc's default malloc returns big freed blocks to the OS and faults them back in on every step; keeping them
# mapped made U-Net training 1.1-1.7x faster on the reference CPU (MACHINE-NOTES). It must be set before Python
# starts, so heavy commands re-execute themselves once with it. GENLAB_MALLOC=default opts out.
_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"
_HEAVY_COMMANDS = {"train", "sample", "evaluate", "serve"}


@app.command()
def train(
    spec: str = typer.Argument(..., help="Preset name (see `genlab presets`) or a config .yaml file."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. train.lr=1e-3"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run directory (default runs/<preset>)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else $GENLAB_DATA_DIR, ./data)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config as JSON and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or scalar lines."),
) -> None:
    """Train a model; re-running the same command resumes from the last training state."""
    from genlab import api

    extra = list(overrides or [])
    if run_dir:
        extra.append(f"run_dir={run_dir}")
    if data_dir:
        extra.append(f"data.data_dir={data_dir}")
    cfg = api.resolve_config(spec, extra)
    if dry_run:
        typer.echo(json.dumps(cfg.to_dict(), indent=2))
        return
    result = api.train(cfg, progress=not quiet)
    typer.echo(f"done: step {result.step}, {result.images_seen} images, {result.train_seconds / 60:.1f} min of "
               f"training; snapshot {result.snapshot}; grids in {result.run_dir / 'samples'}")


@app.command()
def sample(
    source: str = typer.Argument(..., help="Snapshot file, run directory or pretrained name."),
    n: int = typer.Option(64, "-n", min=1, max=100_000, help="Number of samples."),
    sampler: str = typer.Option("dpmpp-2m", help="Diffusion sampler: ddpm, ddim or dpmpp-2m."),
    steps: int = typer.Option(20, min=1, max=1000, help="Sampler steps (network evaluations)."),
    seed: int = typer.Option(0, help="Sample i uses seed + i, so any one image can be regenerated alone."),
    class_label: int | None = typer.Option(None, "--class", help="Class for every sample (conditional models)."),
    guidance: float = typer.Option(1.0, min=0.0, max=20.0, help="Classifier-free guidance weight (1 = none)."),
    eta: float = typer.Option(0.0, min=0.0, max=1.0, help="DDIM eta (0 = deterministic)."),
    weights: str = typer.Option("ema", help="ema (snapshot) or raw (from the run's training state)."),
    output: Path = typer.Option(Path("samples.png"), "-o", "--output", help="PNG grid to write."),
    nrow: int | None = typer.Option(None, help="Images per grid row."),
    batch_size: int = typer.Option(256, min=1, max=4096, help="Samples generated at once."),
    precision: str = typer.Option("auto", help="auto, fp32 or bf16 (autocast; auto = bf16 where native)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Generate samples from a snapshot (no training flags needed) and save them as a PNG grid."""
    from tqdm import tqdm

    from genlab import api

    gen = api.load(source, device=device, weights=weights)
    bar = tqdm(total=n, unit="img", disable=n <= batch_size)
    images = gen.generate(n, seed=seed, labels=class_label, sampler=sampler, steps=steps, guidance=guidance,
                          eta=eta, batch_size=batch_size, precision=precision,
                          progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    api.save_grid(images, output, nrow=nrow or (gen.num_classes if gen.num_classes and class_label is None else None),
                  scale=2)
    typer.echo(f"wrote {n} samples ({gen.header['family']}, seeds {seed}..{seed + n - 1}) to {output}")


@app.command()
def presets() -> None:
    """List the named presets."""
    from genlab import api
    from genlab.config.presets import PRESETS

    for name in api.presets():
        p = PRESETS[name]
        typer.echo(f"{name:28s} {p.get('family', 'diffusion'):10s} {p.get('data', {}).get('dataset', '')}")


@app.command()
def info(snapshot: str = typer.Argument(..., help="Snapshot file or run directory.")) -> None:
    """Print a snapshot's header (family, constructor kwargs, codec, versions, training step)."""
    from genlab.api import find_snapshot
    from genlab.checkpoints.snapshot import read_header

    typer.echo(json.dumps(read_header(find_snapshot(snapshot)), indent=2))


from genlab.cli.evaluate import evaluate, report  # thin commands over genlab.evaluation / report

app.command()(evaluate)
app.command()(report)

data_app = typer.Typer(no_args_is_help=True, help="Prepare datasets (e.g. write an LTrace-format channel file).")
app.add_typer(data_app, name="data")

from genlab.cli.latent import latent_app  # latent-space tools over genlab.latent_api

app.add_typer(latent_app, name="latent")

from genlab.cli.audio import audio_app  # audio regenerate / evaluate over genlab.audio.api

app.add_typer(audio_app, name="audio")

from genlab.cli.channels import channels_app  # facies comparison / ES-MDA over genlab.facies

app.add_typer(channels_app, name="channels")

from genlab.cli.serve import serve  # the web UI, genlab.web

app.command()(serve)


@data_app.command("channels")
def data_channels(
    n: int = typer.Option(50_000, "-n", min=1, max=10_000_000, help="Number of images."),
    output: Path = typer.Option(Path("train_images.h5"), "-o", "--output", help="HDF5 file to write."),
    seed: int = typer.Option(0, help="Image i depends only on (seed, i)."),
    size: int = typer.Option(128, min=16, max=1024, help="Image side in pixels."),
) -> None:
    """Write procedural meandering-channel images in the LTrace train_images.h5 format (key train_images,
    (N, size, size, 1) uint8 in {0, 1})."""
    from genlab.data.sources.channels import write_channels_h5

    path = write_channels_h5(output, n, seed=seed, size=size, progress=True)
    typer.echo(f"wrote {n} channel images ({size}x{size}) to {path}")


def _maybe_reexec(argv: list[str]) -> None:
    if (sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ
            and os.environ.get("GENLAB_MALLOC", "") != "default" and argv[:1] and argv[0] in _HEAVY_COMMANDS):
        env = dict(os.environ, GLIBC_TUNABLES=_MALLOC_TUNABLES)
        os.execve(sys.executable, [sys.executable, "-m", "genlab", *argv], env)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes print one line and exit non-zero, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _maybe_reexec(argv)
    try:
        app(args=argv, standalone_mode=False)
    except GenlabError as e:
        typer.echo(f"genlab: error: {e}", err=True)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("genlab: interrupted; the training state was saved: run the same command again to resume",
                   err=True)
        raise SystemExit(130) from None
    except (typer.Abort, typer.Exit) as e:
        raise SystemExit(getattr(e, "exit_code", 1)) from None
    except typer.TyperException as e:  # usage errors (bad option values, missing arguments)
        if hasattr(e, "show"):
            e.show()
        else:
            typer.echo(f"genlab: error: {e}", err=True)
        raise SystemExit(getattr(e, "exit_code", 2)) from None
