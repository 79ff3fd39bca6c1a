"""`genlab evaluate` and `genlab report`: thin commands over genlab.api (evaluate, evaluate_run, fid_vs_steps, report).

Registered in cli/main.py as plain functions (``app.command()(evaluate)``), so they can also be called directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from genlab.cli import checks
from genlab.cli.output import progress_bar
from genlab.errors import GenlabError

_ROWS = (  # (label, key in the metrics dict, key in the floor dict or None)
    ("FID", "fid", "fid"),
    ("KID (mean)", "kid_mean", "kid_mean"),
    ("KID (std)", "kid_std", "kid_std"),
    ("IS", "is_mean", "is_mean"),
    ("precision", "precision", "precision"),
    ("recall", "recall", "recall"),
    ("class KL to uniform (nats)", "class_kl_uniform", "class_kl_uniform"),
    ("label accuracy (conditional)", "label_accuracy", "label_accuracy"),
)


def _steps_list(text: str) -> list[int]:
    """"5,10,20" → [5, 10, 20]; GenlabError naming the option otherwise."""
    try:
        steps = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GenlabError(f"--fid-vs-steps '{text}': expected comma-separated step counts such as 5,10,20,50") from None
    if not steps or min(steps) < 1:
        raise GenlabError(f"--fid-vs-steps '{text}': expected positive step counts such as 5,10,20,50")
    return steps


def _print_table(result: dict[str, Any]) -> None:
    """A rich table: each metric beside the real-vs-real floor, with the sample counts in the caption."""
    from rich.console import Console
    from rich.table import Table

    m = result["metrics"]
    floor = m.get("floor") or {}
    title = f"{result['family']} on {result['dataset']} — step {result.get('step')}"
    setting = (f", sampler {result['sampler']} {result['steps']} steps (NFE {result['nfe']})"
               if result.get("sampler") else "")
    features = "Inception-V3 pool3" if (result.get("feature_net") or {}).get("protocol") else "domain classifier"
    draws = floor.get("draws") or 1
    caption = (f"{features} features; {m.get('num_fake')} generated vs {m.get('num_real')} real {result['split']} "
               f"images{setting}; "
               f"floor: {floor.get('num_fake')} {floor.get('sampling', 'random')} train images vs the same real set"
               + (f", FID the median of {draws} draws, the other metrics draw 0's" if draws > 1 else "")
               + f"; KID subsets of {m.get('kid_subset_size')}")
    table = Table(title=title, caption=caption)
    for col in ("metric", "generated", "real-vs-real floor"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for label, key, floor_key in _ROWS:
        if key in m:
            table.add_row(label, f"{m[key]:.4g}", f"{floor[floor_key]:.4g}" if floor_key in floor else "")
    memo = m.get("memorisation") or {}
    if memo:
        table.add_row("nearest-train median ratio", f"{memo['median_ratio']:.3g}", "≈1 healthy, ≪1 copying")
    Console().print(table)
    if "fid" in floor:
        from genlab import api

        typer.echo(api.floor_text(floor))


def _print_facies(result: dict[str, Any]) -> None:
    fake, floor = result["metrics"]["fake"], result["metrics"]["floor"]
    typer.echo(f"{result['family']} on {result['dataset']} (facies), counts {result['metrics']['counts']}")
    for key, value in fake.items():
        if isinstance(value, (int, float)):
            typer.echo(f"  {key:28s} {value:10.4g}   floor {floor.get(key, float('nan')):10.4g}")


FLOOR_DRAWS, MAX_FLOOR_DRAWS = 25, 1000  # genlab.metrics.image's (a test keeps them equal; no torch import here)
DEFAULT_N = 1000  # see EVALUATE_N_HELP: the count the shipped metrics and floors were measured at
EVALUATE_N_HELP = ("Generated samples (the floor uses as many). The default 1000 is the count the pretrained metrics "
                   "use; measured on a 2-core AMD EPYC with --threads 1: mnist-ddpm 2.8 CPU-minutes (20 steps, "
                   "guidance 2), mnist-dcgan 0.6. Use 10000 for numbers to publish.")


def evaluate(
    source: str = typer.Argument(..., help="Snapshot file, run directory or pretrained name."),
    n: int = typer.Option(DEFAULT_N, "-n", min=1, max=1_000_000, help=EVALUATE_N_HELP),
    sampler: str | None = typer.Option(None, help="Diffusion sampler, e.g. ddim or dpmpp-2m (a wrong name lists "
                                       "all) [default: the "
                                       "snapshot's sample settings]."),
    steps: int | None = typer.Option(None, min=1, max=1000, help="Sampler steps (diffusion) [default: the "
                                     "snapshot's sample settings]."),
    guidance: float | None = typer.Option(None, min=0.0, max=20.0, help="Classifier-free guidance weight (1 = none) "
                                          "[default: the snapshot's sample settings]."),
    guidance_interval: str | None = typer.Option(None, "--guidance-interval", metavar="LO,HI",
                                                 help=checks.GUIDANCE_INTERVAL_HELP),
    autoguide: str | None = typer.Option(None, "--autoguide", metavar="SNAPSHOT", help=checks.AUTOGUIDE_HELP),
    temperature: float | None = typer.Option(None, min=0.0, max=10.0, help="Scale of the latent noise (GANs, "
                                             "VAEs, autoencoders; < 1 trades variety for typicality) [default: the "
                                             "run's own, else 1]."),
    split: str = typer.Option("test", help="Real reference split: test (default) or train."),
    seed: int = typer.Option(0, min=0, help="Sample i uses seed + i; also seeds the floor and KID subsets."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full result as JSON here."),
    every_epoch: bool = typer.Option(False, "--every-epoch", help="Run directory: measure each epoch snapshot "
                                                                  "and append to run_dir/metrics.jsonl."),
    fid_vs_steps: str | None = typer.Option(None, "--fid-vs-steps", help="Diffusion: comma-separated step counts "
                                               "(e.g. 5,10,20,50) for each of --samplers; writes fid_vs_steps.json."),
    samplers: str = typer.Option("ddim,dpmpp-2m", help="Samplers for --fid-vs-steps, comma-separated."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Real data folder (default: the run's)."),
    max_train: int | None = typer.Option(None, "--max-train", min=2, help="Random training images for the "
                                            "floor and memorisation check (default all)."),
    floor_draws: int = typer.Option(FLOOR_DRAWS, "--floor-draws", min=1, max=MAX_FLOOR_DRAWS,
                                    help="Random draws of n training images the floor FID is the median of "
                                         "(printed with their IQR; 0.03 CPU-s per draw at n = 1000)."),
    feature_net: Path | None = typer.Option(None, "--feature-net", help="FeatureNet .safetensors (with its "
                                               ".json sidecar); default: the shipped net for the run's dataset."),
    features: str = typer.Option("domain", "--features", help="domain: the dataset's classifier (default); "
                                 "inception: the standard FID Inception-V3 (needs --inception-weights)."),
    inception_weights: Path | None = typer.Option(None, "--inception-weights", help="FID Inception-V3 weights "
                                                  "as .safetensors in torchvision/pytorch-fid key layout."),
    batch_size: int = typer.Option(256, min=1, max=4096, help="Samples generated at once."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, min=1, max=1024, help="CPU threads for PyTorch [default: PyTorch's]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Measure generated images against real data with the dataset's feature net: FID, KID, IS, precision/recall,
    class balance and memorisation, each beside the real-vs-real floor at the same sample count."""
    from genlab import api

    if json_out is not None:
        checks.output_file(json_out, "--json", suffixes=(".json",))
    checks.seed_range(seed, n, api.MAX_SEED)
    checks.known_sampler(sampler, tuple(api.SAMPLERS))
    api.check_evaluate_request(n, split, floor_draws)
    api.pick_device(device)
    if threads:
        api.set_threads(threads)
    net = _feature_extractor(features, feature_net, inception_weights)
    common = {"data_dir": data_dir, "max_train": max_train, "feature_net": net, "device": device, "seed": seed,
              "batch_size": batch_size, "floor_draws": floor_draws}
    if fid_vs_steps:
        out = api.fid_vs_steps(source, [s.strip() for s in samplers.split(",") if s.strip()],
                               _steps_list(fid_vs_steps), n, guidance=guidance, output=json_out,
                               progress=typer.echo, **common)
        typer.echo(json.dumps(out["rows"], indent=1) if json_out is None else f"wrote {json_out}")
        return
    info = api.snapshot_info(source)
    options = checks.resolve_sampling(info, sampler=sampler, steps=steps, guidance=guidance, temperature=temperature,
                                      guidance_interval=checks.guidance_interval(guidance_interval),
                                      autoguide=autoguide)
    if every_epoch:
        rows = api.evaluate_run(source, n, True, split=split, progress=typer.echo, **options, **common)
        typer.echo(f"{len(rows)} snapshot(s) measured; lines in {Path(source) / api.METRICS_FILE}")
        if json_out:
            json_out.write_text(json.dumps(rows, indent=2) + "\n")
        return
    with progress_bar(f"generating {n} images", quiet) as bar:
        result = api.evaluate(source, n, split=split, progress=bar, **options, **common)
    _print_facies(result) if result["domain"] == "facies" else _print_table(result)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        typer.echo(f"wrote {json_out}")


def _feature_extractor(features: str, feature_net: Path | None, inception_weights: Path | None) -> Any:
    """What `--features`, `--feature-net` and `--inception-weights` ask for: a FeatureNet path (or None: the shipped
    one) for domain features, a loaded InceptionV3 for inception; GenlabError for inconsistent options."""
    from genlab import api

    if features == "domain":
        if inception_weights is not None:
            raise GenlabError("--inception-weights is used only with --features inception")
        return feature_net
    if features != "inception":
        raise GenlabError(f"--features '{features}': expected domain or inception")
    if inception_weights is None:
        raise GenlabError("--features inception needs --inception-weights FILE.safetensors (genlab downloads nothing)")
    if feature_net is not None:
        raise GenlabError("--feature-net is a domain classifier; it cannot be combined with --features inception")
    return api.load_inception(inception_weights)


def report(
    source: str = typer.Argument(..., metavar="SOURCE", help="Run directory written by `genlab train`, a snapshot "
                                 "file or a pretrained name."),
    output: Path | None = typer.Option(None, "-o", "--output", help="HTML file (default run_dir/report.html)."),
    max_grids: int = typer.Option(12, min=1, max=200, help="Most epoch grids to show (spread evenly)."),
) -> None:
    """Write one self-contained HTML page for a run: epoch grids, loss and metric curves, FID vs steps, config."""
    from genlab import api

    if output is not None:
        checks.output_file(output, suffixes=(".html", ".htm"))
    path = api.report(source, output, max_grids=max_grids)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
