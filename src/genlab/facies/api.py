"""Channel-facies workflows the CLI (`genlab channels ...`) and the benchmark call.

    from genlab.facies import compare_models, esmda_demo
    summary = compare_models(["runs/channels-vae-dense", "runs/channels-vae-fullconv"], n=500, out_dir="cmp")
    demo = esmda_demo("runs/channels-vae-fullconv", truth_seed=3, wells=9, n_ens=100, n_assim=4, out_dir="esmda")

    demo = inpaint_demo("runs/channels-diffusion-128", truth_seed=3, wells=9, n=16, out_dir="inpaint")

`compare_models` writes comparison.json, report.md / report.html and per-run sample grids, interpolation strips
and curve plots; `esmda_demo` writes esmda.json, esmda.md / esmda.html and before/after realization grids;
`inpaint_demo` (diffusion models, which have no latent code for ES-MDA) conditions to the same wells of the same
truths by inpainting and writes inpaint.json, inpaint.md / inpaint.html and the grids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.editing_api import inpaint
from genlab.errors import GenlabError
from genlab.facies import report as rp
from genlab.facies.conditioning import latent_norm_check, make_setup, run_esmda, stats, well_mask, wells_honoured
from genlab.facies.evaluation import RunData, evaluate_run, is_vae, load_reference_file, load_run_data, run_label
from genlab.inference import find_snapshot, load
from genlab.latent.interpolate import interpolate_seeds
from genlab.metrics.facies import load_facies_feature_net
from genlab.viz import plot_curves, save_grid, save_strip

__all__ = ["compare_models", "esmda_demo", "inpaint_demo"]


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
    """Grids: truth + k prior members, truth + k posterior members, [truth, prior mean, posterior mean], and
    [truth, wells]."""
    truth, wells = _truth_and_wells(setup, out / "esmda-wells.png")
    return {
        "prior": _save_grid(_u8(np.concatenate([truth, prior[:k] > 0.5])), out / "esmda-prior.png"),
        "posterior": _save_grid(_u8(np.concatenate([truth, post[:k] > 0.5])), out / "esmda-posterior.png"),
        "means": _means_grid([truth, prior.mean(0, keepdims=True), post.mean(0, keepdims=True)],
                             out / "esmda-means.png"),
        "wells": wells,
    }


def _truth_and_wells(setup: Any, path: Path) -> tuple[np.ndarray, str]:
    """The truth as a (1, H, W) bool array, and the [truth, well cells] grid saved at `path`."""
    truth = setup.truth.astype(bool)[None]
    wells = np.zeros_like(truth)
    wells[0, setup.well_cells[:, 0], setup.well_cells[:, 1]] = True
    return truth, _save_grid(_u8(np.concatenate([truth, wells])), path, nrow=2, scale=3)


def _means_grid(fields: list[np.ndarray], path: Path) -> str:
    """One row of (1, H, W) fields in [0, 1] (a truth, ensemble means) as grey levels, saved at `path`."""
    stacked = np.clip(np.concatenate([f.astype(np.float64) for f in fields]), 0, 1)
    return _save_grid((stacked * 255).round().astype(np.uint8)[:, None], path, nrow=len(stacked), scale=3)


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
                          "`genlab channels inpaint`)")
    setup, truth_text = _demo_setup(gen, snapshot, "ES-MDA", truth_seed, wells, n_monitors, truth, truth_from)
    t0 = time.perf_counter()
    res, prior, post = run_esmda(gen, setup, n_ens, n_assim, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "label": run_label(snapshot, gen), "family": gen.info.family, "is_vae": is_vae(gen),
        "n_ens": n_ens, "n_assim": n_assim, "alphas": [float(a) for a in res.alphas],
        "setup": {"truth_seed": truth_seed, "truth": truth_text, "wells": wells,
                  "well_cells": setup.well_cells.tolist(), "n_monitors": n_monitors, "sd": setup.sd,
                  "d_obs": setup.d_obs.tolist()},
        "history": res.summary(), "seconds": time.perf_counter() - t0,
        "prior_latent": latent_norm_check(_prior_latents(gen, n_ens, seed)),
        "posterior_latent": latent_norm_check(res.m),
        "assets": _ensemble_panels(setup, prior, post, out),
    }
    (out / "esmda.json").write_text(json.dumps(summary, indent=1, default=float))
    md, page = rp.write_page(_esmda_blocks(summary), out, "esmda", "ES-MDA channel demo")
    summary["report"] = {"markdown": str(md), "html": str(page)}
    return summary


def _demo_setup(gen: Any, snapshot: str | Path, what: str, truth_seed: int, wells: int, n_monitors: int,
                truth: np.ndarray | None, truth_from: str) -> tuple[Any, str]:
    """The synthetic truth, wells and noisy data shared by the ES-MDA and inpainting demos, and the truth's origin."""
    size = gen.model.image_shape[1]
    if gen.model.image_shape[1] != gen.model.image_shape[2]:
        raise GenlabError(f"{snapshot}: the {what} demo needs square images, got {tuple(gen.model.image_shape)}")
    if truth_from not in ("procedural", "held-out"):
        raise GenlabError(f"truth_from '{truth_from}': expected 'procedural' or 'held-out'")
    given = truth is not None
    if truth is None and truth_from == "held-out":
        truth = load_run_data(gen.info.data_config, truth_seed + 1, n_train=1).held_out[truth_seed]
    text = ("given image" if given else "held-out image truth_seed" if truth_from == "held-out"
            else "procedural (seed 10000 + truth_seed)")
    return make_setup(size, truth_seed, wells, n_monitors=n_monitors, truth=truth), text


def inpaint_demo(snapshot: str | Path, truth_seed: int = 0, wells: int = 9, n: int = 16,
                 out_dir: str | Path = "channels-inpaint", seed: int = 0, device: str = "auto", n_monitors: int = 3,
                 truth: np.ndarray | None = None, truth_from: str = "procedural", method: str = "repaint",
                 steps: int = 50, jump: int = 5, resample: int = 5, batch_size: int = 16,
                 progress: Any = None) -> dict[str, Any]:
    """Condition a diffusion snapshot's channel realizations to the facies at the wells of the same synthetic truth
    `esmda_demo` uses (same `truth_seed`, `truth_from`, `wells`), by inpainting: every pixel is generated except the
    well cells, which hold the truth's facies (mask-based hard conditioning; `method` "repaint" resamples, Lugmayr et
    al. 2022, "replace" is the plain replacement baseline). The flow data are not used; the flow-rate RMSE says what
    that costs. Realizations i use seeds seed + i.

    Returns the JSON summary (wells honoured, with the denoiser's own last prediction before pasting; field
    accuracy, spread, flow-rate RMSE, channel fraction; seconds), also written to out_dir/inpaint.json with
    inpaint.md / inpaint.html and grids.
    """
    if not 1 <= n <= 10_000:
        raise GenlabError(f"n = {n}: expected 1 to 10000 conditioned realizations")
    gen = load(find_snapshot(snapshot), device=device)
    if gen.capabilities.has_latent:
        raise GenlabError(f"{snapshot}: family {gen.info.family} has a latent code; condition it with ES-MDA "
                          "(`genlab channels esmda`); inpainting needs a diffusion snapshot")
    setup, truth_text = _demo_setup(gen, snapshot, "inpainting", truth_seed, wells, n_monitors, truth, truth_from)
    t0 = time.perf_counter()
    row, binary = inpaint_to_wells(gen, setup, n, method=method, steps=steps, jump=jump, resample=resample, seed=seed,
                                   batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "label": run_label(snapshot, gen), "family": gen.info.family, "n": n, "method": method, "steps": steps,
        "jump": jump, "resample": resample,
        "setup": {"truth_seed": truth_seed, "truth": truth_text, "wells": wells,
                  "well_cells": setup.well_cells.tolist(), "n_monitors": n_monitors},
        **row, "seconds": seconds, "assets": _inpaint_panels(setup, binary, out),
    }
    (out / "inpaint.json").write_text(json.dumps(summary, indent=1, default=float))
    md, page = rp.write_page(_inpaint_blocks(summary), out, "inpaint", "channel inpainting to wells")
    summary["report"] = {"markdown": str(md), "html": str(page)}
    return summary


def inpaint_to_wells(gen: Any, setup: Any, n: int, *, method: str = "repaint", steps: int = 50, jump: int = 5,
                     resample: int = 5, seed: int = 0, batch_size: int = 16, progress: Any = None
                     ) -> tuple[dict[str, Any], np.ndarray]:
    """`n` realizations of a loaded diffusion model inpainted around the wells of `setup` (a conditioning set-up of
    genlab.facies.conditioning): (row, binary) with row = {nfe, wells_honoured, wells_agreed_before_paste, and the
    field statistics of `stats`} and binary the (n, H, W) realizations. `inpaint_demo` and
    benchmarks/channels_conditioning.py both condition this way."""
    size = setup.truth.shape[0]
    images = torch.from_numpy(np.repeat(setup.truth[None, None], n, axis=0))  # facies {0, 1}, uint8
    res = inpaint(gen, images, well_mask(size, setup.well_cells), method=method, steps=steps, jump=jump,
                  resample=resample, seed=seed, batch_size=batch_size, progress=progress)
    binary = res.values[:, 0].cpu().numpy().astype(bool)
    row = {"nfe": res.nfe, "wells_honoured": wells_honoured(binary, setup),
           "wells_agreed_before_paste": res.known_error.get("unpasted_cells_honoured"),
           **stats(binary.astype(np.float64), setup)}
    return row, binary


def _inpaint_panels(setup: Any, binary: np.ndarray, out: Path, k: int = 15) -> dict[str, str]:
    """Grids: [truth, wells], truth + k conditioned realizations, and [truth, mean of the realizations]."""
    truth, wells = _truth_and_wells(setup, out / "inpaint-wells.png")
    return {
        "wells": wells,
        "realizations": _save_grid(_u8(np.concatenate([truth, binary[:k]])), out / "inpaint-realizations.png"),
        "means": _means_grid([truth, binary.mean(0, keepdims=True)], out / "inpaint-means.png"),
    }


def _inpaint_blocks(s: dict[str, Any]) -> list[rp.Block]:
    a, st = s["assets"], s["setup"]
    agreed = s["wells_agreed_before_paste"]
    rows = [["well cells honoured (realizations)", rp.fmt(s["wells_honoured"], ".3f")],
            ["well cells agreed before pasting", rp.fmt(agreed, ".3f")],
            ["field accuracy vs truth", rp.fmt(s["field_accuracy_vs_truth"], ".3f")],
            ["pixel std across realizations", rp.fmt(s["pixel_std_mean"], ".3f")],
            ["flow: log10-rate RMSE (flow data not used)", rp.fmt(s["flow_rmse_log10_rate"], ".3f")],
            ["channel fraction", rp.fmt(s["channel_fraction"], ".3f")],
            ["seconds (all realizations)", rp.fmt(s["seconds"], ".1f")]]
    return [
        ("h1", f"Inpainting {s['label']} to wells"),
        ("p", (f"Truth: {st['truth']} (truth seed {st['truth_seed']}), {st['wells']} facies-logged wells. "
               f"{s['n']} realizations by {s['method']} inpainting ({s['steps']} levels, jump {s['jump']}, resample "
               f"{s['resample']}; {s['nfe']} network evaluations per realization): every pixel generated except the "
               "well cells, which keep the truth's facies.")),
        ("table", ["metric", "value"], rows),
        ("img", a["wells"], "truth and facies-logged well cells"),
        ("img", a["realizations"], "truth (top left) and conditioned realizations"),
        ("img", a["means"], "truth and the mean of the conditioned realizations"),
    ]
