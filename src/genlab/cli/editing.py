"""`genlab inpaint` and `genlab edit`: mask-based completion and SDEdit image-to-image, thin over genlab.api.

Registered in cli/main.py as plain functions (``app.command()(inpaint)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer

from genlab.cli import checks
from genlab.cli.output import progress_bar, write_grid

_SOURCE_HELP = "Snapshot file, run directory or pretrained name of a diffusion or score-sde model."
_INPUT_HELP = ("Images to work on: a .png (one image of the model's size) or a .npy ((H, W), (N, H, W) or (N, C, H, "
               "W) uint8; read without pickle).")


def _inputs(api, source: str, input_file: Path | None, test_images: int | None, seed: int, data_dir: Path | None):
    """uint8 images from --input or from --test-images random test images of the model's dataset."""
    if (input_file is None) == (test_images is None):
        raise api.GenlabError("give exactly one of --input FILE or --test-images N")
    if input_file is not None:
        return api.read_images(input_file, api.snapshot_info(source).sample_shape)
    return api.real_images(source, test_images, seed=seed, data_dir=data_dir)[0]


def _write(result, originals, output: Path, npy: Path | None, rows: list) -> None:
    n = originals.shape[0]
    write_grid(torch.cat(rows), output, nrow=n, scale=2)
    if npy is not None:
        import numpy as np

        np.save(npy, result.values.numpy(), allow_pickle=False)


def inpaint(
    source: str = typer.Argument(..., metavar="SOURCE", help=_SOURCE_HELP),
    mask: str = typer.Option(..., "--mask", help="Region to GENERATE: a preset (center, outpaint, left-half, "
                             "right-half, top-half, bottom-half, random-pixels[:FRACTION], wells[:COUNT]) or a file "
                             "(.png: white = generate; .npy: 1/True = generate)."),
    input_file: Path | None = typer.Option(None, "--input", help=_INPUT_HELP),
    test_images: int | None = typer.Option(None, "--test-images", min=1, max=10_000, help="Or: this many random "
                                           "test images of the model's dataset."),
    method: str = typer.Option("repaint", help="repaint (RePaint resampling) or replace (replacement baseline)."),
    steps: int = typer.Option(50, min=1, max=1000, help="Noise levels of the sampling grid."),
    jump: int = typer.Option(5, min=1, max=1000, help="RePaint: levels noised back up at each resampling."),
    resample: int = typer.Option(5, min=1, max=100, help="RePaint: passes over each jump segment (1 = none)."),
    eta: float = typer.Option(1.0, min=0.0, max=1.0, help="Fresh noise per step (1 = DDPM's ancestral step)."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class to complete towards (conditional "
                                           "models) [default: none, the known pixels alone decide]."),
    guidance: float | None = typer.Option(None, min=0.0, max=20.0, help="Classifier-free guidance weight with "
                                          "--class [default: the snapshot's]."),
    seed: int = typer.Option(0, min=0, help="Image i uses seed + i (also picks --test-images and random masks)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory for --test-images (else the "
                                         "run's, $GENLAB_DATA_DIR, ./data)."),
    output: Path = typer.Option(Path("inpainted.png"), "-o", "--output", help="Grid to write (.png/.jpg): rows "
                                "originals, masked inputs (grey = to generate), completions."),
    npy: Path | None = typer.Option(None, "--npy", help="Also save the completed images' values as .npy (facies: "
                                    "0/1)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Inpaint or outpaint: generate the masked region of images, keeping the rest exactly (RePaint, or the
    replacement baseline). Prints the error on the known pixels before the final paste."""
    from genlab import api

    checks.output_file(output, suffixes=checks.IMAGE_SUFFIXES)
    if npy is not None:
        checks.output_file(npy, "--npy", suffixes=(".npy",))
    api.pick_device(device)
    api.make_mask(mask, api.snapshot_info(source).sample_shape, seed)  # a bad mask is one line before any work
    images = _inputs(api, source, input_file, test_images, seed, data_dir)
    with progress_bar(f"inpainting {images.shape[0]} images ({method})", quiet) as bar:
        result = api.inpaint(source, images, mask, method=method, steps=steps, jump=jump, resample=resample, eta=eta,
                             labels=class_label, guidance=guidance, seed=seed, device=device, progress=bar)
    shown = api.inpaint_display(images, result)
    _write(result, images, output, npy, [shown["original"], shown["masked"], result.images])
    err = result.known_error
    typer.echo(f"wrote {images.shape[0]} completions to {output} ({method}, {result.nfe} denoiser calls per image, "
               f"{result.seconds:.1f} s); known pixels: exact after the paste (max error "
               f"{err.get('pasted_max_abs', 0):.3g}), before it mean {err.get('unpasted_mean_abs', 0):.3g} / max "
               f"{err.get('unpasted_max_abs', 0):.3g} (intensity 0..1)")
    if "unpasted_cells_honoured" in err:
        typer.echo(f"known facies cells honoured: {err['pasted_cells_honoured']:.1%} after the paste, "
                   f"{err['unpasted_cells_honoured']:.1%} by the model's own prediction")


def edit(
    source: str = typer.Argument(..., metavar="SOURCE", help=_SOURCE_HELP),
    input_file: Path | None = typer.Option(None, "--input", help=_INPUT_HELP),
    test_images: int | None = typer.Option(None, "--test-images", min=1, max=10_000, help="Or: this many random "
                                           "test images of the model's dataset."),
    strength: float = typer.Option(0.5, min=0.0, max=1.0, help="Noise level to start from: 0 = unchanged, 1 = pure "
                                   "noise (a new sample)."),
    steps: int = typer.Option(20, min=1, max=1000, help="DDIM steps (at most) from that level."),
    eta: float = typer.Option(0.0, min=0.0, max=1.0, help="Fresh noise per step (0 = deterministic DDIM)."),
    class_label: int | None = typer.Option(None, "--class", min=0, help="Class to edit towards (conditional "
                                           "models) [default: none]."),
    guidance: float | None = typer.Option(None, min=0.0, max=20.0, help="Classifier-free guidance weight with "
                                          "--class [default: the snapshot's]."),
    seed: int = typer.Option(0, min=0, help="Image i uses seed + i (also picks --test-images)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory for --test-images."),
    output: Path = typer.Option(Path("edited.png"), "-o", "--output", help="Grid to write (.png/.jpg): rows "
                                "inputs, edits."),
    npy: Path | None = typer.Option(None, "--npy", help="Also save the edited images' values as .npy."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """SDEdit image-to-image: noise the inputs to --strength and denoise them: realistic images that keep the
    inputs' layout (e.g. a rough sketch becomes a digit; with --class, a digit turns into another)."""
    from genlab import api

    checks.output_file(output, suffixes=checks.IMAGE_SUFFIXES)
    if npy is not None:
        checks.output_file(npy, "--npy", suffixes=(".npy",))
    api.pick_device(device)
    images = _inputs(api, source, input_file, test_images, seed, data_dir)
    with progress_bar(f"editing {images.shape[0]} images", quiet) as bar:
        result = api.edit(source, images, strength=strength, steps=steps, eta=eta, labels=class_label,
                          guidance=guidance, seed=seed, device=device, progress=bar)
    shown = api.inpaint_display(images, result)
    _write(result, images, output, npy, [shown["original"], result.images])
    typer.echo(f"wrote {images.shape[0]} edits to {output} (strength {strength}, {result.nfe} denoiser calls per "
               f"image, {result.seconds:.1f} s); settings {json.dumps(result.settings)[:200]}")
