"""Conditioning channel realizations to wells: ES-MDA in a latent model's space vs diffusion inpainting (issue 14).

Both methods get the same truths and the same wells. Truths are held-out images of the latent run's own data
(procedural images past its training range, or the file's validation split), not model samples. Per truth:

- ES-MDA (genlab.facies.conditioning.run_esmda): `--n-ens` members (≥ 200 for the issue), `--n-assim` constant
  inflation α = Na (Σ 1/α = 1); data = facies probability at the wells (error std 0.1) and the flow proxy (log10
  production rate, monitor pressures). The posterior members are thresholded at p = 0.5.
- Inpainting (genlab.editing_api.inpaint, RePaint resampling by default): `--n-cond` realizations with every
  pixel generated except the well cells, which hold the truth's facies (mask-based hard conditioning). It sees the
  well facies only, not the flow data; the flow-rate RMSE row says what that costs.

Reported per method: well cells honoured (binary realizations vs the truth; for inpainting also the denoiser's own
last prediction before pasting, i.e. whether the model agrees with the wells rather than only being overwritten),
field accuracy vs the truth, pixel spread across members, flow-rate RMSE, channel fraction, realism of the
conditioned realizations (genlab.metrics.facies.compare_facies against held-out real images, with the
real-vs-real floor), and time per conditioned realization (process CPU and wall). ES-MDA's per-iteration history is
kept for every truth.

    OMP_NUM_THREADS=1 python benchmarks/channels_conditioning.py --latent runs/channels-vaegan \
        --diffusion runs/channels-diffusion-128 --truths 3 --n-ens 200 --n-assim 4 --n-cond 16 \
        --report-dir runs/bench/channels-conditioning

Prints the JSON and writes benchmarks/results/channels_conditioning.json and .md (--out-json / --out-md).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine_info

from genlab.errors import GenlabError
from genlab.facies import report as rp
from genlab.facies.api import inpaint_to_wells
from genlab.facies.conditioning import make_setup, run_esmda, stats, wells_honoured
from genlab.facies.evaluation import load_run_data, run_label
from genlab.inference import find_snapshot, load
from genlab.metrics.facies import compare_facies, load_facies_feature_net
from genlab.utils.io import atomic_write_text
from genlab.viz import save_grid

RESULTS = Path(__file__).resolve().parent / "results"
REALISM = (("channel fraction mean", "proportion.mean", ".3f"), ("connectivity y RMSE", "connectivity_y_rmse", ".3f"),
           ("connectivity x RMSE", "connectivity_x_rmse", ".3f"), ("variogram y RMSE", "variogram_y_rmse", ".4f"),
           ("spanning along flow", "continuity.spanning_fraction", ".3f"),
           ("facies Fréchet", "facies_frechet", ".2f"))


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def esmda_one(gen: Any, setup: Any, n_ens: int, n_assim: int, seed: int) -> tuple[dict[str, Any], np.ndarray]:
    (res, _prior, post), cpu, wall = timed(lambda: run_esmda(gen, setup, n_ens, n_assim, seed))
    binary = post > 0.5
    row = {"history": res.summary(), "cpu_s_per_realization": cpu / n_ens, "wall_s_per_realization": wall / n_ens,
           "wells_honoured": wells_honoured(binary, setup), **stats(post, setup)}
    return row, binary


def inpaint_one(gen: Any, setup: Any, n_cond: int, args: argparse.Namespace, seed: int
                ) -> tuple[dict[str, Any], np.ndarray]:
    (row, binary), cpu, wall = timed(lambda: inpaint_to_wells(
        gen, setup, n_cond, method=args.method, steps=args.steps, jump=args.jump, resample=args.resample, seed=seed,
        batch_size=args.batch_size))
    return {"cpu_s_per_realization": cpu / n_cond, "wall_s_per_realization": wall / n_cond, **row}, binary


def mean_rows(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and v is not None]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def markdown(result: dict[str, Any]) -> str:
    methods = [m for m in ("esmda", "inpainting") if m in result["methods"]]
    names = {"esmda": f"ES-MDA ({result['esmda']['label']}, Ne {result['esmda']['n_ens']}, "
                      f"Na {result['esmda']['n_assim']})" if "esmda" in result else "ES-MDA",
             "inpainting": f"inpainting ({result['inpainting']['label']}, {result['inpainting']['method']}, "
                           f"{result['inpainting']['steps']} steps)" if "inpainting" in result else "inpainting"}
    rows_spec = [("well cells honoured (realizations)", "wells_honoured", ".3f"),
                 ("well cells agreed before pasting", "wells_agreed_before_paste", ".3f"),
                 ("field accuracy vs truth", "field_accuracy_vs_truth", ".3f"),
                 ("pixel std across members", "pixel_std_mean", ".3f"),
                 ("flow: log10-rate RMSE", "flow_rmse_log10_rate", ".3f"),
                 ("CPU s per conditioned realization", "cpu_s_per_realization", ".3f"),
                 ("wall s per conditioned realization", "wall_s_per_realization", ".3f")]
    header = ["metric", *(names[m] for m in methods), "real vs real (floor)"]
    rows = [[label, *(rp.fmt(result["methods"][m]["mean"].get(key), f) for m in methods), ""]
            for label, key, f in rows_spec]
    for label, path, f in REALISM:
        rows.append([f"realism: {label}", *(rp.fmt(rp.lookup(result["methods"][m]["realism"]["fake"], path), f)
                                           for m in methods),
                     rp.fmt(rp.lookup(result["methods"][methods[0]]["realism"]["floor"], path), f)])
    blocks: list[rp.Block] = [
        ("h1", "Conditioning to wells: ES-MDA in latent space vs diffusion inpainting"),
        ("p", (f"Command: `{result['command']}` ({result['machine'].get('cpu', '')}, {result['threads']} thread(s), "
               f"load average at start {result['load_average_start']}). Truths: {result['truths']} held-out images "
               f"({result['data']}); {result['wells']} facies-logged wells on a lattice. Numbers are means over "
               "truths. Realism: the conditioned realizations of all truths pooled against held-out real images, "
               "with the real-vs-real floor at the same counts.")),
        ("table", header, rows),
    ]
    if "esmda" in result["methods"]:
        h, rs = rp.esmda_table(result["methods"]["esmda"]["per_truth"][0]["history"])
        blocks += [("h2", "ES-MDA history, truth 0"), ("table", h, rs)]
    return rp.to_markdown(blocks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latent", help="run directory / snapshot of the latent model (VAE, VAE-GAN or GAN) for ES-MDA")
    ap.add_argument("--diffusion", help="run directory / snapshot of the diffusion model for inpainting")
    ap.add_argument("--truths", type=int, default=3, help="held-out images used as truths")
    ap.add_argument("--wells", type=int, default=9)
    ap.add_argument("--n-ens", type=int, default=200, help="ES-MDA ensemble size")
    ap.add_argument("--n-assim", type=int, default=4, help="ES-MDA assimilations (constant alpha = Na)")
    ap.add_argument("--n-cond", type=int, default=16, help="inpainted realizations per truth")
    ap.add_argument("--method", default="repaint", help="repaint (resampling) or replace")
    ap.add_argument("--steps", type=int, default=50, help="inpainting: levels of the sampling grid")
    ap.add_argument("--jump", type=int, default=5)
    ap.add_argument("--resample", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--n-real", type=int, default=200, help="held-out real images for the realism reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-dir", type=Path, default=None, help="grids (truth + realizations per method)")
    ap.add_argument("--out-json", default=str(RESULTS / "channels_conditioning.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "channels_conditioning.md"))
    args = ap.parse_args(argv)
    try:
        if not args.latent and not args.diffusion:
            raise GenlabError("give --latent RUN (ES-MDA), --diffusion RUN (inpainting) or both")
        if args.truths < 1 or args.n_ens < 2 or args.n_assim < 1 or args.n_cond < 1:
            raise GenlabError(f"--truths {args.truths}, --n-ens {args.n_ens}, --n-assim {args.n_assim}, --n-cond "
                              f"{args.n_cond}: expected >= 1, >= 2, >= 1, >= 1")
        torch.set_num_threads(args.threads)
        t0, load_start = time.time(), [round(x, 2) for x in os.getloadavg()]
        gens = {k: load(find_snapshot(v), device="cpu") for k, v in (("esmda", args.latent),
                                                                    ("inpainting", args.diffusion)) if v}
        shapes = {tuple(g.model.image_shape) for g in gens.values()}
        if len(shapes) != 1:
            raise GenlabError(f"--latent and --diffusion make images of different shapes {sorted(shapes)}")
        if "esmda" in gens and not gens["esmda"].capabilities.has_latent:
            raise GenlabError(f"--latent {args.latent}: family {gens['esmda'].info.family} has no latent code")
        first = gens.get("esmda") or gens["inpainting"]
        size = first.model.image_shape[1]
        data = load_run_data(first.info.data_config, args.truths + 2 * args.n_real)
        if len(data.held_out) < args.truths + 8:
            raise GenlabError(f"only {len(data.held_out)} held-out images; need --truths {args.truths} + 8")
        truths, real = data.held_out[:args.truths], data.held_out[args.truths:]
        net = load_facies_feature_net()
        result: dict[str, Any] = {"benchmark": "channels_conditioning", "machine": machine_info(),
                                  "threads": args.threads, "load_average_start": load_start, "truths": args.truths,
                                  "wells": args.wells, "data": data.description, "methods": {}}
        for method, gen in gens.items():
            per_truth, pooled = [], []
            for t in range(args.truths):
                setup = make_setup(size, t, args.wells, truth=truths[t])
                if method == "esmda":
                    row, binary = esmda_one(gen, setup, args.n_ens, args.n_assim, args.seed)
                else:
                    row, binary = inpaint_one(gen, setup, args.n_cond, args, args.seed + 1000 * t)
                per_truth.append({"truth": t, **row})
                pooled.append(binary)
                if args.report_dir:
                    args.report_dir.mkdir(parents=True, exist_ok=True)
                    grid = np.concatenate([setup.truth[None].astype(bool), binary[:15]]).astype(np.uint8) * 255
                    save_grid(grid[:, None], args.report_dir / f"{method}-truth{t}.png", nrow=8, scale=2)
            allb = np.concatenate(pooled)
            realism = compare_facies(allb, real, seed=args.seed, feature_net=net)
            result["methods"][method] = {"mean": mean_rows(per_truth), "per_truth": per_truth,
                                         "realism": {k: realism[k] for k in ("counts", "fake", "floor")}}
        if "esmda" in gens:
            result["esmda"] = {"label": run_label(args.latent, gens["esmda"]), "n_ens": args.n_ens,
                               "n_assim": args.n_assim}
        if "inpainting" in gens:
            result["inpainting"] = {"label": run_label(args.diffusion, gens["inpainting"]), "method": args.method,
                                    "steps": args.steps, "jump": args.jump, "resample": args.resample,
                                    "n_cond": args.n_cond}
        result.update({"seconds": round(time.time() - t0, 1), "load_average_end": [round(x, 2)
                                                                                     for x in os.getloadavg()],
                       "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0],
                                                                                  *(argv or sys.argv[1:])])})
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    doc = json.dumps(result, indent=1, default=float)
    print(doc, flush=True)
    for path, text in ((args.out_json, doc + "\n"), (args.out_md, markdown(result))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
