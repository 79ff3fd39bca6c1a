"""Disentanglement on the procedural dSprites-like data: MIG against β for β-VAE and β-TC-VAE (issue 20, item 4).

Two steps, so each training job stays small (run them through the CPU slot script):

    python benchmarks/ae_disentangle.py train --variant vae   --betas 1,4,8 --runs-dir /work/runs/disentangle
    python benchmarks/ae_disentangle.py train --variant tcvae --betas 1,4,8 --runs-dir /work/runs/disentangle
    python benchmarks/ae_disentangle.py evaluate --runs-dir /work/runs/disentangle \
        --out benchmarks/results/ae_disentangle.json --images docs/images

Every run: the "vae" family on dsprites (32 × 32, 20 000 training images from seed 0), latent_dim 10, Bernoulli
decoder, base_channels 16, batch 64, lr 1e-3, --steps steps (600 by default: each run stays under 2 CPU-minutes
on the 2-core reference CPU), KL/TC warm-up 200 steps, fp32, one thread. "vae" sets
model.beta = β (β-VAE, Higgins et al. 2017); "tcvae" keeps beta = 1 and sets model.tc_beta = β (β-TC-VAE, Chen
et al. 2018: only the total-correlation part of the KL is weighted). β = 1 is the plain VAE in both.

evaluate: MIG (20 bins) of the encoded means of n test images (seed 1, never trained on) against the five factors;
baselines: the same architecture untrained (random weights; what the metric gives a code that has learnt nothing)
and the factors themselves as a code (the ceiling, 1 minus the plug-in estimator's bias). Also per-factor gaps,
the ELBO terms of the last training log line, CPU time, and one traversal PNG per variant at its largest β.
Prints the JSON it writes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info

from genlab import api
from genlab.data.sources.sprites import FACTOR_NAMES, make_sprites
from genlab.latent_explore_api import disentanglement, traverse
from genlab.metrics.disentanglement import mig
from genlab.models.registry import get_family

DATA = ["data.dataset=dsprites", "data.options.n=20000", "data.options.seed=0", "data.download=false"]
MODEL = ["model.base_channels=16", "model.latent_dim=10", "model.likelihood=bernoulli", "model.kl_warmup_steps=200"]
TRAIN = ["train.batch_size=64", "train.lr=1e-3", "train.epochs=0", "train.epoch_images=32000",
         "train.precision=fp32", "train.ema_decay=0.995", "train.threads=1", "train.warmup_steps=50",
         "train.log_every=50", "sample.num_images=36"]


def run_name(variant: str, beta: float) -> str:
    return f"{variant}-beta{beta:g}"


def overrides(variant: str, beta: float, run_dir: Path, steps: int, size: int) -> list[str]:
    weight = [f"model.beta={beta}"] if variant == "vae" else [f"model.tc_beta={beta}"]
    return [*DATA, f"data.options.size={size}", *MODEL, *TRAIN, f"train.max_steps={steps}", *weight,
            f"run_dir={run_dir}", f"name={run_name(variant, beta)}"]


def train(args: argparse.Namespace) -> None:
    for beta in [float(b) for b in args.betas.split(",")]:
        run_dir = Path(args.runs_dir) / run_name(args.variant, beta)
        t0, c0 = time.time(), time.process_time()
        result = api.train("mnist-vae", overrides(args.variant, beta, run_dir, args.steps, args.size), progress=False)
        info = {"variant": args.variant, "beta": beta, "steps": result.step, "wall_s": round(time.time() - t0, 1),
                "process_cpu_s": round(time.process_time() - c0, 1),
                "train_cpu_s": round(result.train_cpu_seconds, 1),
                "overrides": overrides(args.variant, beta, run_dir, args.steps, args.size),
                "machine": machine_info()}
        (run_dir / "bench.json").write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps(info), flush=True)


def last_log(run_dir: Path) -> dict:
    lines = [json.loads(s) for s in (run_dir / "scalars.jsonl").read_text().splitlines() if s.strip()] \
        if (run_dir / "scalars.jsonl").exists() else []
    keep = ("step", "recon", "kl", "tc", "elbo", "kl_active_dims")
    return {k: lines[-1][k] for k in keep if lines and k in lines[-1]}


def baselines(n: int, seed: int, size: int) -> dict:
    test = make_sprites(n, seed=1, size=size)
    torch.manual_seed(seed)
    model = get_family("vae")(image_shape=(1, size, size), base_channels=16, latent_dim=10).eval()
    x = torch.from_numpy(test.images).unsqueeze(1).float() / 127.5 - 1
    with torch.no_grad():
        codes = torch.cat([model.encode(x[i:i + 500])[0] for i in range(0, n, 500)]).numpy()
    untrained = mig(codes, test.factors, factor_names=FACTOR_NAMES)
    ceiling = mig(test.factors.astype(float), test.factors, factor_names=FACTOR_NAMES)
    return {"untrained_encoder": {"mig": untrained["mig"], "per_factor": untrained["per_factor"]},
            "factors_as_code_20_bins": {"mig": ceiling["mig"], "per_factor": ceiling["per_factor"]}}


def evaluate(args: argparse.Namespace) -> None:
    runs_dir = Path(args.runs_dir)
    rows = []
    for run_dir in sorted(p for p in runs_dir.iterdir() if (p / "snapshot.safetensors").exists()):
        bench = json.loads((run_dir / "bench.json").read_text()) if (run_dir / "bench.json").exists() else {}
        res = disentanglement(run_dir, n=args.n, split="test", seed=0)
        rows.append({"run": run_dir.name, "variant": bench.get("variant"), "beta": bench.get("beta"),
                     "mig": round(res["mig"], 4), "per_factor": {k: round(v, 4) for k, v in res["per_factor"].items()},
                     "best_dim": res["best_dim"], "n": res["n"], "bins": res["bins"], "last_log": last_log(run_dir),
                     "train_cpu_s": bench.get("train_cpu_s"), "wall_s": bench.get("wall_s")})
    images = {}
    if args.images:
        for variant in ("vae", "tcvae"):
            mine = [r for r in rows if r["variant"] == variant]
            if mine:
                best = max(mine, key=lambda r: r["beta"])
                out = Path(args.images) / f"disentangle-traversal-{args.size}px-{variant}-beta{best['beta']:g}.png"
                _, dims = traverse(runs_dir / best["run"], image=0, rows=6, out=out, split="test")
                images[variant] = {"path": str(out), "run": best["run"], "dims": dims}
    doc = {"benchmark": "ae_disentangle", "data": f"dsprites {args.size}x{args.size}, train n=20000 seed 0, test "
                                                  "n=4000 seed 1",
           "metric": "MIG (Chen et al. 2018), encoded means, 20 equal-width bins, plug-in MI", "n": args.n,
           "rows": rows, "baselines": baselines(args.n, 0, args.size), "traversals": images,
           "command": " ".join(sys.argv), "machine": machine_info()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    for r in sorted(rows, key=lambda r: (r["variant"] or "", r["beta"] or 0)):
        print(f"{r['variant']:6} beta {r['beta']:>4}: MIG {r['mig']:.3f}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one variant at several β")
    t.add_argument("--variant", choices=("vae", "tcvae"), required=True)
    t.add_argument("--betas", default="1,4,8")
    t.add_argument("--runs-dir", required=True)
    t.add_argument("--steps", type=int, default=600, help="optimiser steps per run (600: under 2 CPU-minutes)")
    t.add_argument("--size", type=int, default=32, choices=(16, 32, 64), help="image side")
    e = sub.add_parser("evaluate", help="MIG of every run under --runs-dir, baselines, traversal PNGs")
    e.add_argument("--runs-dir", required=True)
    e.add_argument("-n", type=int, default=4000, help="test images (the test split has 4000)")
    e.add_argument("--out", default="benchmarks/results/ae_disentangle.json")
    e.add_argument("--images", default="", help="folder for the traversal PNGs (none if empty)")
    e.add_argument("--size", type=int, default=32, choices=(16, 32, 64), help="image side the runs used")
    args = parser.parse_args()
    np.seterr(all="ignore")
    (train if args.cmd == "train" else evaluate)(args)


if __name__ == "__main__":
    main()
