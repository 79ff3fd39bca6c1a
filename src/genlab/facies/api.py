"""Channel-facies workflows the CLI (`genlab channels ...`) and the benchmark call.

    from genlab.facies import compare_models, esmda_demo
    summary = compare_models(["runs/channels-vae-dense", "runs/channels-vae-fullconv"], n=500, out_dir="cmp")
    demo = esmda_demo("runs/channels-vae-fullconv", truth_seed=3, wells=9, n_ens=100, n_assim=4, out_dir="esmda")

`compare_models` writes comparison.json, report.md / report.html and per-run sample grids, interpolation strips
and curve plots; `esmda_demo` writes esmda.json, esmda.md / esmda.html and before/after realization grids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.facies import report as rp
from genlab.facies.conditioning import latent_norm_check, make_setup, run_esmda
from genlab.facies.evaluation import RunData, evaluate_run, is_vae, load_reference_file, load_run_data, run_label
from genlab.inference import find_snapshot, load
from genlab.latent.interpolate import interpolate_seeds
from genlab.metrics.facies import load_facies_feature_net
from genlab.viz import plot_curves, save_grid, save_strip

__all__ = ["compare_models", "esmda_demo"]


def _u8(binary: Any) -> np.ndarray:
    """{0,1} or bool (N, H, W) → uint8 0/255 (N, 1, H, W) for grids."""
    a = np.asarray(binary)
    return (a.astype(np.uint8) * 255)[:, None]


def _save_grid(images: np.ndarray, path: Path, nrow: int = 8, scale: int = 2) -> str:
    save_grid(images, path, nrow=nrow, scale=scale)
    return path.name


def _interpolation(gen: Any, path: Path, pairs: int = 4, steps: int = 8) -> str:
    """Slerp strips between prior seeds (2i, 2i+1), thresholded; row i is one pair."""
    rows = [interpolate_seeds(gen.model, 2 * i, 2 * i + 1, steps=steps) for i in range(pairs)]
    display = torch.stack([gen.codec.to_display(r) for r in rows])  # (R, S, 1, H, W) uint8
    save_strip(display, path, scale=2)
    return path.name


def _curve_plot(results: list[dict[str, Any]], name: str, path: Path) -> str:
    ref = results[0]["metrics"]["reference_curves"][name]
    lags = list(range(1, len(ref) + 1))
    curves = {"real (held-out)": (lags, ref)}
    curves.update({r["label"]: (lags, r["metrics"]["fake"]["curves"][name]) for r in results})
    plot_curves(curves, path, xlabel="lag (px)", ylabel=name.replace("_", " "), title=name)
    return path.name


def _per_run_assets(gen: Any, binary: np.ndarray, out_dir: Path, slug: str) -> dict[str, str]:
    """Sample grid, and for latent-code models (VAE, GAN; not diffusion) slerp interpolation strips."""
    out = {"samples": _save_grid(_u8(binary[:64]), out_dir / f"{slug}-samples.png")}
    if gen.capabilities.has_latent:
        out["interpolation"] = _interpolation(gen, out_dir / f"{slug}-interpolation.png")
    return out


def _comparison_blocks(results: list[dict[str, Any]], data: RunData, n: int, real_grid: str,
                       curve_files: list[str]) -> list[rp.Block]:
    header, rows = rp.comparison_table(results)
    blocks: list[rp.Block] = [
        ("h1", "Channel facies: conv+dense vs fully convolutional"),
        ("p", (f"Real data: {data.description}. {n} prior samples per model (seeds 0..{n - 1}), thresholded at "
               "p = 0.5. The floor column compares two disjoint halves of the held-out real images with the same "
               "counts, so it is what a perfect generator would score. Training time is the CPU time recorded in "
               "each snapshot header. The Fréchet distance uses the features of genlab's facies classifier "
               "(channel count × width × sinuosity classes of the procedural generator).")),
        ("table", header, rows), ("h2", "Held-out real images"), ("img", real_grid, "real held-out images"),
    ]
    for r in results:
        blocks += [("h2", r["label"]), ("img", r["assets"]["samples"], f"{r['label']}: prior samples")]
        if "interpolation" in r["assets"]:
            blocks.append(("img", r["assets"]["interpolation"], f"{r['label']}: slerp interpolation between seeds"))
    blocks.append(("h2", "Two-point and connectivity curves"))
    blocks += [("img", f, f.removesuffix(".png")) for f in curve_files]
    return blocks


def compare_models(run_dirs: Sequence[str | Path], n: int = 500, out_dir: str | Path = "channels-compare",
                   seed: int = 0, device: str = "auto", reference: str | Path | None = None) -> dict[str, Any]:
    """Side-by-side evaluation of trained channel generators (run directories or snapshot files).

    Real images come from the first run's data config (held-out procedural images or the file's validation split),
    which caps n at half that split; or, with `reference`, from the first 2·n images of a separate LTrace-format file
    (see `load_reference_file`; the memorisation check still uses the first run's training images).
    Returns the JSON summary (also written to out_dir/comparison.json) with one entry per run.
    """
    if not run_dirs:
        raise GenlabError("compare_models: give at least one run directory or snapshot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = load(find_snapshot(run_dirs[0]), device=device)
    if reference is not None:
        hw = tuple(first.model.image_shape[1:])
        try:
            train = load_run_data(first.info.data_config, 4).train
        except GenlabError:  # the run's own data is not here: compare without the memorisation check
            train = None
        data = load_reference_file(reference, 2 * n, hw, train=train)
    else:
        data = load_run_data(first.info.data_config, 2 * n)
    net = load_facies_feature_net()
    results = []
    for i, src in enumerate(run_dirs):
        t0 = time.perf_counter()
        res, gen, binary = evaluate_run(src, data, n, seed, device, feature_net=net)
        res["assets"] = _per_run_assets(gen, binary, out, f"{i}-{res['label']}")
        res["eval_seconds"] = time.perf_counter() - t0
        results.append(res)
    real_grid = _save_grid(_u8(data.held_out[:64]), out / "real-samples.png")
    curves = [_curve_plot(results, c, out / f"{c}.png")
              for c in ("variogram_x", "variogram_y", "connectivity_x", "connectivity_y")]
    summary = {"n": n, "seed": seed, "data": data.description, "runs": results}
    (out / "comparison.json").write_text(json.dumps(summary, indent=1, default=float))
    md, page = rp.write_page(_comparison_blocks(results, data, n, real_grid, curves), out, "report",
                             "channel facies comparison")
    summary["report"] = {"markdown": str(md), "html": str(page)}
    return summary


def _ensemble_panels(setup: Any, prior: np.ndarray, post: np.ndarray, out: Path, k: int = 15) -> dict[str, str]:
    """Grids: truth + k prior members, truth + k posterior members, and [truth, prior mean, posterior mean]."""
    truth = setup.truth.astype(bool)[None]
    wells = np.zeros_like(truth)
    wells[0, setup.well_cells[:, 0], setup.well_cells[:, 1]] = True
    means = np.concatenate([truth, prior.mean(0, keepdims=True), post.mean(0, keepdims=True)])
    return {
        "prior": _save_grid(_u8(np.concatenate([truth, prior[:k] > 0.5])), out / "esmda-prior.png"),
        "posterior": _save_grid(_u8(np.concatenate([truth, post[:k] > 0.5])), out / "esmda-posterior.png"),
        "means": _save_grid((np.clip(means, 0, 1) * 255).round().astype(np.uint8)[:, None], out / "esmda-means.png",
                            nrow=3, scale=3),
        "wells": _save_grid(_u8(np.concatenate([truth, wells])), out / "esmda-wells.png", nrow=2, scale=3),
    }


def _prior_latents(gen: Any, n_ens: int, seed: int) -> np.ndarray:
    """The prior ensemble run_esmda starts from, flattened (Ne, Nm) float64."""
    return gen.model.sample_latent(list(range(seed, seed + n_ens))).flatten(1).cpu().double().numpy()


def _esmda_blocks(summary: dict[str, Any]) -> list[rp.Block]:
    header, rows = rp.esmda_table(summary["history"])
    s, a = summary["setup"], summary["assets"]
    return [
        ("h1", f"ES-MDA in the latent space of {summary['label']}"),
        ("p", (f"Truth: procedural image (truth seed {s['truth_seed']}), {s['wells']} facies-logged wells, flow "
               f"proxy with 1 injector, 1 producer, {s['n_monitors']} monitors. Ensemble {summary['n_ens']} members, "
               f"{summary['n_assim']} assimilations, α = {summary['alphas']} (Σ 1/α = 1). Error std: {s['sd']}. "
               "O_N is the normalised data mismatch (Emerick & Reynolds 2013, eq. 19); O_N ≈ 1 is a fit at noise "
               "level. Iteration 0 is the prior, the last row the posterior.")),
        ("table", header, rows),
        ("p", f"Posterior latent check: {summary['posterior_latent']} (prior draws give mean ‖z‖²/D ≈ 1)."),
        ("img", a["wells"], "truth and facies-logged well cells"),
        ("img", a["prior"], "truth (top left) and prior realizations"),
        ("img", a["posterior"], "truth (top left) and posterior realizations"),
        ("img", a["means"], "truth, prior mean channel probability, posterior mean"),
    ]


def esmda_demo(snapshot: str | Path, truth_seed: int = 0, wells: int = 9, n_ens: int = 100, n_assim: int = 4,
               out_dir: str | Path = "channels-esmda", seed: int = 0, device: str = "auto",
               n_monitors: int = 3, truth: np.ndarray | None = None, truth_from: str = "procedural"
               ) -> dict[str, Any]:
    """Condition a trained generator's realizations to facies at wells and flow-proxy data of a synthetic truth:
    `truth_from="procedural"`: image `truth_seed` of an unused procedural stream; "held-out": held-out image
    `truth_seed` of the run's own data (procedural images past its training range, or the file's validation split);
    or `truth` itself ((H, W) {0, 1}).

    Returns the JSON summary (history per iteration, setup, latent check), also written to out_dir/esmda.json
    with esmda.md / esmda.html and before/after grids.
    """
    gen = load(find_snapshot(snapshot), device=device)
    if not gen.capabilities.has_latent:
        raise GenlabError(f"{snapshot}: family {gen.info.family} has no latent code for ES-MDA to update; use a VAE, "
                          "VAE-GAN or GAN snapshot (diffusion models condition to wells by inpainting: "
                          "benchmarks/channels_conditioning.py)")
    size = gen.model.image_shape[1]
    if gen.model.image_shape[1] != gen.model.image_shape[2]:
        raise GenlabError(f"{snapshot}: the ES-MDA demo needs square images, got {tuple(gen.model.image_shape)}")
    if truth_from not in ("procedural", "held-out"):
        raise GenlabError(f"truth_from '{truth_from}': expected 'procedural' or 'held-out'")
    if truth is None and truth_from == "held-out":
        truth = load_run_data(gen.info.data_config, truth_seed + 1, n_train=1).held_out[truth_seed]
    setup = make_setup(size, truth_seed, wells, n_monitors=n_monitors, truth=truth)
    t0 = time.perf_counter()
    res, prior, post = run_esmda(gen, setup, n_ens, n_assim, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "label": run_label(snapshot, gen), "family": gen.info.family, "is_vae": is_vae(gen),
        "n_ens": n_ens, "n_assim": n_assim, "alphas": [float(a) for a in res.alphas],
        "setup": {"truth_seed": truth_seed, "truth": "procedural (seed 10000 + truth_seed)" if truth is None
                  else ("held-out image truth_seed" if truth_from == "held-out" else "given image"), "wells": wells, "well_cells": setup.well_cells.tolist(),
                  "n_monitors": n_monitors, "sd": setup.sd, "d_obs": setup.d_obs.tolist()},
        "history": res.summary(), "seconds": time.perf_counter() - t0,
        "prior_latent": latent_norm_check(_prior_latents(gen, n_ens, seed)),
        "posterior_latent": latent_norm_check(res.m),
        "assets": _ensemble_panels(setup, prior, post, out),
    }
    (out / "esmda.json").write_text(json.dumps(summary, indent=1, default=float))
    md, page = rp.write_page(_esmda_blocks(summary), out, "esmda", "ES-MDA channel demo")
    summary["report"] = {"markdown": str(md), "html": str(page)}
    return summary
