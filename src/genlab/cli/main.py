"""The `genlab` command: thin commands that parse, validate and call genlab.api."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from genlab.cli import checks
from genlab.cli.output import progress_bar, write_grid
from genlab.errors import GenlabError

PROG = "genlab"
# Plain (not rich) help: it shows flags as they are typed (`--dry-run`, not `--dry-run <bool>`).
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="genlab: train, sample, evaluate and serve generative models (diffusion, GANs, VAEs, "
                       "autoencoders) on images, channel facies and audio.")

# glibc's default malloc returns big freed blocks to the OS and faults them back in on every step; keeping them
# mapped made U-Net training 1.1-1.7x faster on the reference CPU (MACHINE-NOTES). It must be set before Python
# starts, so heavy commands re-execute themselves once with it. GENLAB_MALLOC=default opts out.
_MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"
_HEAVY_COMMANDS = {"train", "sample", "evaluate", "serve", "likelihood", "train-classifier", "distill", "inpaint",
                   "edit"}


@app.command()
def train(
    spec: str = typer.Argument(..., help="Preset name (see `genlab presets`) or a config .yaml file."),
    overrides: list[str] | None = typer.Argument(None, help="key=value overrides, e.g. train.lr=1e-3"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run directory (default runs/<preset>)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (else $GENLAB_DATA_DIR, ./data)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config as JSON and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or scalar lines."),
) -> None:
    """Train a model; re-running the same command resumes from the last training state.

    Warm start: train.init_from=SOURCE (a snapshot file, run directory or pretrained name of the same family and
    architecture) starts from its weights (model and EMA; the optimiser starts fresh)."""
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
    typer.echo(f"done: step {result.step}, {result.images_seen} images, {result.train_seconds / 60:.1f} min "
               f"wall-clock and {result.train_cpu_seconds / 60:.1f} min process CPU time of training; snapshot {result.snapshot}; grids in {result.run_dir / 'samples'}")


@app.command()
def sample(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name "
                                 "(see `genlab presets`)."),
    n: int = typer.Option(64, "-n", min=1, max=100_000, help="Number of samples."),
    sampler: str | None = typer.Option(None, help="Diffusion sampler, e.g. ddim or dpmpp-2m (a wrong name lists "
                                       "all) [default: the "
                                       "snapshot's own sample settings]."),
    steps: int | None = typer.Option(None, min=1, max=1000, help="Sampler steps (diffusion) [default: the "
                                     "snapshot's sample settings]."),
    seed: int = typer.Option(0, min=0, help="Sample i uses seed + i, so any one image can be regenerated alone."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class for every sample (conditional "
                                           "models) [default: classes cycle 0..K-1]."),
    guidance: float | None = typer.Option(None, min=0.0, max=20.0, help="Classifier-free guidance weight (1 = none; "
                                          "conditional diffusion) [default: the snapshot's sample settings]."),
    guidance_interval: str | None = typer.Option(None, "--guidance-interval", metavar="LO,HI",
                                                 help=checks.GUIDANCE_INTERVAL_HELP),
    autoguide: str | None = typer.Option(None, "--autoguide", metavar="SNAPSHOT", help=checks.AUTOGUIDE_HELP),
    eta: float | None = typer.Option(None, min=0.0, max=1.0, help="Fresh noise per step of ddim and the ancestral/SDE "
                                     "samplers (0 = deterministic, 1 = DDPM's) [default: ddim 0, the others 1]."),
    order: int | None = typer.Option(None, min=1, max=3, help="Order of the unipc sampler [default: 2]."),
    grid: str | None = typer.Option(None, help="Noise-level grid: trailing (evenly spaced steps) or karras (EDM's "
                                    "rho = 7 levels, more steps at low noise) [default: trailing]."),
    classifier: str | None = typer.Option(None, help="Classifier guidance: a file from `genlab train-classifier` "
                                          "for this model."),
    classifier_scale: float | None = typer.Option(None, min=0.0, max=100.0, help="Classifier guidance strength s "
                                                  "[default: 1]."),
    classifier_class: int | None = typer.Option(None, min=0, help="Class the classifier guides every sample to "
                                                "[default: --class for conditional models, else seed mod K]."),
    temperature: float | None = typer.Option(None, min=0.0, max=10.0, help="Scale of the latent noise (GANs, "
                                             "VAEs, autoencoders; < 1 trades variety for typicality) [default: 1]."),
    weights: str = typer.Option("ema", help="ema (snapshot) or raw (from the run's training state)."),
    output: Path = typer.Option(Path("samples.png"), "-o", "--output", help="Grid image to write: .png, .jpg or "
                                ".jpeg."),
    nrow: int | None = typer.Option(None, min=1, max=10_000, help="Images per grid row [default: one column per "
                                    "class when classes cycle, else a square]."),
    batch_size: int = typer.Option(256, min=1, max=4096, help="Samples generated at once."),
    precision: str = typer.Option("auto", help="auto, fp32 or bf16 (autocast; auto = bf16 where native)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    backend: str = typer.Option("torch", help="What runs the denoiser of a diffusion snapshot on the CPU: torch, "
                                "torch-bf16, torch-compile, onnxruntime, onnxruntime-int8-dynamic or "
                                "onnxruntime-int8-static (exported / quantized for this call; "
                                "docs/diffusion_beyond.md)."),
    onnx_file: Path | None = typer.Option(None, "--onnx", help="Run this file from `genlab export` (with an "
                                          "onnxruntime backend) instead of exporting."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate samples from a snapshot (no training flags needed) and save them as an image grid."""
    from genlab import api

    checks.output_file(output, suffixes=checks.IMAGE_SUFFIXES)
    checks.seed_range(seed, n, api.MAX_SEED)
    checks.known_sampler(sampler, tuple(api.SAMPLERS))
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    info = api.snapshot_info(source)
    options = checks.resolve_sampling(info, sampler=sampler, steps=steps, guidance=guidance, eta=eta, order=order,
                                      grid=grid, guidance_interval=checks.guidance_interval(guidance_interval),
                                      autoguide=autoguide,
                                      classifier=classifier, classifier_scale=classifier_scale,
                                      classifier_class=classifier_class, temperature=temperature)
    if backend != "torch" or onnx_file is not None:  # the fast CPU inference backends (issue 19 part 5)
        api.check_inference_backend(backend, onnx_file)
        gen = api.load(source, device="cpu", weights=weights)
        runner = api.inference_backend(gen, backend, onnx_file=onnx_file, log=None if quiet else typer.echo)
        with progress_bar(f"sampling {n} images ({backend})", quiet) as bar:
            images = api.generate_with_backend(gen, runner, n, seed=seed, labels=class_label, batch_size=batch_size,
                                               progress=bar, **options)
    else:
        gen = api.load(source, device=device, weights=weights)
        with progress_bar(f"sampling {n} images", quiet) as bar:
            images = gen.generate(n, seed=seed, labels=class_label, batch_size=batch_size, precision=precision,
                                  progress=bar, **options)
    cycling = info.capabilities.conditional and class_label is None
    write_grid(images, output, nrow=nrow or (gen.num_classes if cycling else None), scale=2)
    used = ", ".join(f"{k} {v}" for k, v in options.items())
    typer.echo(f"wrote {n} samples ({info.family}{', ' + used if used else ''}; seeds {seed}..{seed + n - 1}) "
               f"to {output}")


@app.command()
def presets() -> None:
    """List the named presets (train them) and the pretrained snapshots (sample, evaluate, info, latent ... them)."""
    from genlab import api

    typer.echo("presets: `genlab train NAME` trains one into runs/NAME")
    for name in api.presets():
        p = api.preset_info(name)
        typer.echo(f"  {name:28s} {p.get('family', 'diffusion'):12s} {(p.get('data') or {}).get('dataset', '')}")
    shipped = api.pretrained_manifest()
    typer.echo("pretrained snapshots: use the name wherever a command takes a snapshot (`genlab sample NAME`)")
    if not shipped:
        typer.echo("  (none shipped with this installation)")
    for name, entry in sorted(shipped.items()):
        typer.echo(f"  {name:28s} {entry.get('family', '?'):12s} {entry.get('dataset', '?'):20s} [pretrained]"
                   + api.pretrained_headline_text(entry))


@app.command()
def info(
    snapshot: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name."),
    json_out: bool = typer.Option(False, "--json", help="Print the raw snapshot header as JSON instead."),
) -> None:
    """Describe a snapshot: family, dataset, domain, capabilities, parameters, training command, metrics with
    their floors (its model card)."""
    from genlab import api

    if json_out:
        typer.echo(json.dumps(api.read_header(snapshot), indent=2))
        return
    typer.echo(api.model_card(snapshot).rstrip())


@app.command()
def export(
    source: str = typer.Argument(..., metavar="SOURCE", help="Snapshot file, run directory or pretrained name."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write: .onnx (ONNX) or .pt2 (torch.export)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare onnxruntime's outputs with PyTorch's."),
    quantize: str | None = typer.Option(None, help="int8-dynamic or int8-static (ONNX of a diffusion denoiser; "
                                        "static calibrates on the inputs the model's own sampler feeds it)."),
) -> None:
    """Export a snapshot's sampling network (ONNX or torch.export) for use outside genlab."""
    from genlab import api

    checks.output_file(output, suffixes=(".onnx", ".pt2"))
    if quantize is not None and (quantize not in api.QUANTIZATIONS or output.suffix.lower() != ".onnx"):
        raise GenlabError(f"--quantize {quantize}: expected one of {', '.join(api.QUANTIZATIONS)} with an .onnx "
                          f"output")
    api.snapshot_info(source)  # a bad SOURCE is one line before the (slow) export starts
    result = api.export(source, output, check=check, quantize=quantize)
    inputs = ", ".join(f"{name} {tuple(shape)}" for name, shape in result.inputs.items())
    checked = ("" if result.max_abs_diff is None else f"; {quantize} differs from PyTorch by at most "
               f"{result.max_abs_diff:.2g}" if quantize else f"; onnxruntime matches PyTorch within "
               f"{result.max_abs_diff:.2g}")
    typer.echo(f"wrote {result.path} ({result.format}, {result.family} sampling network; inputs {inputs}; outputs "
               f"{', '.join(result.outputs)}{checked})")


from genlab.cli.evaluate import evaluate, report  # thin commands over genlab.api

app.command()(evaluate)
app.command()(report)

data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                       help="Prepare datasets: write an LTrace-format channel-facies file.")
app.add_typer(data_app, name="data")

from genlab.cli.latent import latent_app  # latent-space tools

app.add_typer(latent_app, name="latent")

from genlab.cli.audio import audio_app  # audio regenerate / evaluate

app.add_typer(audio_app, name="audio")

from genlab.cli.channels import channels_app  # facies comparison / ES-MDA

app.add_typer(channels_app, name="channels")

from genlab.cli.serve import serve  # the web UI, genlab.web

app.command()(serve)

from genlab.cli.score import likelihood, train_classifier  # PF-ODE bits/dim; classifier for classifier guidance

app.command()(likelihood)
app.command("train-classifier")(train_classifier)

from genlab.cli.aemetrics import anomaly, probe  # one-class anomaly protocol; linear probe on frozen codes

app.command()(anomaly)
app.command()(probe)

from genlab.cli.distill import distill  # few-step students (progressive distillation)

app.command()(distill)

from genlab.cli.editing import edit, inpaint  # inpainting / outpainting and SDEdit image-to-image

app.command()(inpaint)
app.command()(edit)

from genlab.cli.inspect import inspect_app  # attention / feature maps, trajectory, loss per timestep (issue 19)

app.add_typer(inspect_app, name="inspect")


@data_app.command("channels")
def data_channels(
    n: int = typer.Option(50_000, "-n", min=1, max=10_000_000, help="Number of images."),
    output: Path = typer.Option(Path("train_images.h5"), "-o", "--output", help="HDF5 file to write."),
    seed: int = typer.Option(0, help="Image i depends only on (seed, i)."),
    size: int = typer.Option(128, min=16, max=1024, help="Image side in pixels."),
) -> None:
    """Write procedural meandering-channel images in the LTrace train_images.h5 format (key train_images,
    (N, size, size, 1) uint8 in {0, 1}).

    Any file in this format (this one or LTrace's own) trains a channel preset with data.dataset=channels
    'data.options={file: /path/to/file.h5, size: 64}' (file: absolute, or relative to --data-dir; size: optional
    resize keeping the channel fraction; the last 10 % of a seeded permutation is held out), and serves as real
    reference images for `genlab channels compare --reference FILE`."""
    from genlab import api

    checks.output_file(output, suffixes=(".h5", ".hdf5"))
    path = api.write_channels_h5(output, n, seed=seed, size=size, progress=True)
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
        command().main(args=argv, prog_name=PROG, standalone_mode=False)
    except GenlabError as e:
        typer.echo(f"genlab: error: {_one_line(str(e))}", err=True)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        resume = "; the training state was saved: run the same command again to resume" if argv[:1] == ["train"] else ""
        typer.echo(f"genlab: interrupted{resume}", err=True)
        raise SystemExit(130) from None
    except (typer.Abort, typer.Exit) as e:
        raise SystemExit(getattr(e, "exit_code", 1)) from None
    except typer.TyperException as e:  # usage errors (bad option values, missing arguments): one line
        typer.echo(_usage_line(e), err=True)
        raise SystemExit(getattr(e, "exit_code", 2)) from None
    except Exception as e:  # a bug, not a user mistake: still one line, the traceback on request
        if os.environ.get("GENLAB_DEBUG"):
            raise
        typer.echo(f"genlab: internal error ({type(e).__name__}: {_one_line(str(e))[:200]}); run with "
                   "GENLAB_DEBUG=1 for the traceback and please report it", err=True)
        raise SystemExit(1) from None


_METAVARS = {"int": "N", "float": "X", "str": "TEXT", "path": "PATH"}


def command() -> typer.core.TyperGroup:
    """The click command tree of `app`, with value placeholders as a user types them (`-n N`, `-o PATH`)."""
    root = typer.main.get_command(app)
    stack = [root]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for param in cmd.params:
            if param.metavar is None and param.param_type_name == "option" and not param.is_flag:
                bare = param.bare_type() if hasattr(param, "bare_type") else "value"
                param.metavar = _METAVARS.get(bare, bare.upper().replace(" RANGE", ""))
            elif param.metavar is None and param.param_type_name == "argument":
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
    return root


def _one_line(text: str) -> str:
    return " ".join(text.split()) if text else ""


def _usage_line(e: Exception) -> str:
    """'genlab sample: error: Invalid value for '--steps': ... (see genlab sample --help)'."""
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else PROG
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    return f"{command}: error: {_one_line(message)} (see {command} --help)"
