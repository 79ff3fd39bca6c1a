"""`genlab channels ...`: the channel-facies comparison report, the ES-MDA demo and inpainting to wells (thin: parse,
call, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genlab.cli import checks

channels_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Channel facies: compare trained generators side by side; condition to wells by "
                           "ES-MDA in latent space or by diffusion inpainting.")


@channels_app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="Run directories or snapshot files (e.g. runs/channels-vae-dense)."),
    n: int = typer.Option(500, "-n", min=4, max=100_000, help="Prior samples per model; 2·n real images are used "
                          "(n against the samples, n for the real-vs-real floor)."),
    reference: Path | None = typer.Option(
        None, "--reference", help="Real images from this LTrace-format file (key train_images, (N, H, W, 1) uint8 "
        "{0, 1}; its first 2·n images, resized to the models' size) instead of the first run's held-out split, "
        "which caps n at half that split. Use a file the models did not train on, e.g. `genlab data channels "
        "--seed 7 -n 2000 -o reference.h5`."),
    output: Path = typer.Option(Path("channels-compare"), "-o", "--output", help="Directory for the report."),
    seed: int = typer.Option(0, min=0, help="Samples use seeds seed..seed+n-1; also seeds the real-vs-real split."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Side-by-side report: parameters, training time (wall-clock and process CPU), reconstruction, every facies metric with the
    real-vs-real floor, sample grids, interpolation strips and latent regularity (VAEs)."""
    from genlab import api

    checks.output_dir(output)
    summary = api.compare_models(runs, n=n, out_dir=output, seed=seed, device=device, reference=reference)
    for r in summary["runs"]:
        m = r["metrics"]["fake"]
        floor = r["metrics"]["floor"]
        typer.echo(f"{r['label']:28s} params {r['params_total']:>9,d}  fraction {m['proportion']['mean']:.3f}  "
                   f"pattern JS {m['pattern_js_4x4']:.4f}  facies Fréchet {m['facies_frechet']:.2f} "
                   f"(floor {floor['facies_frechet']:.2f})  {r['realizations_per_s']:.0f} realizations/s")
    typer.echo(f"report: {summary['report']['html']} and {summary['report']['markdown']}")


# The synthetic truth and wells, shared by the two conditioning commands (the same truths for both methods).
TruthSeed = Annotated[int, typer.Option(min=0, help="Which truth to match (index into --truth-from's images; the "
                                        "same truths for `esmda` and `inpaint`).")]
TruthFrom = Annotated[str, typer.Option(help="procedural: an image of a procedural stream no preset trains on; "
                                        "held-out: a held-out image of the run's own data (its validation split, or "
                                        "procedural images past its training range).")]
Wells = Annotated[int, typer.Option(min=1, max=400, help="Facies-logged wells on a regular lattice.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]


@channels_app.command("esmda")
def esmda(
    snapshot: str = typer.Argument(..., help="Snapshot file or run directory of a VAE or GAN channel generator."),
    truth_seed: TruthSeed = 0,
    truth_from: TruthFrom = "procedural",
    wells: Wells = 9,
    n_ens: int = typer.Option(100, min=2, max=10_000, help="Ensemble size."),
    n_assim: int = typer.Option(4, min=1, max=50, help="Number of assimilations (constant alpha = n_assim)."),
    output: Path = typer.Option(Path("channels-esmda"), "-o", "--output", help="Directory for the report."),
    seed: int = typer.Option(0, min=0, help="Prior members use seeds seed..seed+n_ens-1."),
    device: Device = "auto",
) -> None:
    """Condition realizations to facies at wells and flow-proxy data of a synthetic truth with ES-MDA."""
    from genlab import api

    checks.output_dir(output)
    s = api.esmda_demo(snapshot, truth_seed=truth_seed, wells=wells, n_ens=n_ens, n_assim=n_assim, out_dir=output,
                       seed=seed, device=device, truth_from=truth_from)
    for h in s["history"]:
        x = h["extras"]
        typer.echo(f"iteration {h['iteration']}: mismatch {h['mismatch_mean']:.3f}  latent std {h['m_std']:.3f}  "
                   f"well facies match {x['well_facies_match']:.3f}  field accuracy {x['field_accuracy_vs_truth']:.3f}")
    typer.echo(f"report: {s['report']['html']} and {s['report']['markdown']}")


@channels_app.command("inpaint")
def inpaint(
    snapshot: str = typer.Argument(..., help="Snapshot file or run directory of a diffusion channel model, e.g. "
                                   "pretrained:channels-diffusion-128 or runs/channels-diffusion-128."),
    truth_seed: TruthSeed = 0,
    truth_from: TruthFrom = "procedural",
    wells: Wells = 9,
    n: int = typer.Option(16, "-n", min=1, max=10_000, help="Conditioned realizations (seeds seed..seed+n-1)."),
    method: str = typer.Option("repaint", help="repaint (resampling) or replace (the replacement baseline)."),
    steps: int = typer.Option(50, min=2, max=1000, help="Levels of the sampling grid."),
    jump: int = typer.Option(5, min=1, max=100, help="RePaint: levels per jump back."),
    resample: int = typer.Option(5, min=1, max=100, help="RePaint: resamplings per jump."),
    output: Path = typer.Option(Path("channels-inpaint"), "-o", "--output", help="Directory for the report."),
    seed: int = typer.Option(0, min=0, help="Realization i uses seed + i."),
    device: Device = "auto",
) -> None:
    """Condition a diffusion model's realizations to the facies at wells of a synthetic truth by inpainting."""
    from genlab import api

    checks.output_dir(output)
    s = api.inpaint_demo(snapshot, truth_seed=truth_seed, wells=wells, n=n, out_dir=output, seed=seed, device=device,
                         truth_from=truth_from, method=method, steps=steps, jump=jump, resample=resample)
    typer.echo(f"{s['n']} realizations, {s['nfe']} network evaluations each, {s['seconds']:.1f} s: well cells "
               f"honoured {s['wells_honoured']:.3f}  field accuracy {s['field_accuracy_vs_truth']:.3f}  "
               f"pixel std {s['pixel_std_mean']:.3f}  channel fraction {s['channel_fraction']:.3f}")
    typer.echo(f"report: {s['report']['html']} and {s['report']['markdown']}")
