"""Facies realism of one channel diffusion snapshot under different samplers (issue 14): the same seeds, the same
held-out reference and the same real-vs-real floor for every sampler, so only the sampler changes.

    OMP_NUM_THREADS=1 python benchmarks/channels_sampler.py runs/channels-diffusion-128 -n 100 \
        --samplers dpmpp-2m:20,ddpm:50

Prints one JSON line per sampler (facies-net Fréchet, spanning share, connectivity RMSE, channel fraction, CPU s per
realization, each beside the floor at the same n) and writes them to benchmarks/results/channels_sampler.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from common import machine_info

from genlab import api
from genlab.facies.evaluation import load_run_data
from genlab.metrics.facies import compare_facies, load_facies_feature_net
from genlab.utils.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "channels_sampler.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("snapshot", help="run directory, snapshot file or pretrained name of a channel diffusion model")
    ap.add_argument("-n", type=int, default=100, help="realizations per sampler (seeds 0..n-1); 2n real images")
    ap.add_argument("--samplers", default="dpmpp-2m:20,ddpm:50", help="comma-separated SAMPLER:STEPS")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-json", default=str(RESULTS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = api.load(args.snapshot, device="cpu")
    data = load_run_data(gen.info.data_config, 2 * args.n)
    net = load_facies_feature_net()
    rows = []
    for spec in args.samplers.split(","):
        sampler, steps = spec.split(":")
        t0 = time.process_time()
        x = gen.generate(args.n, seed=0, sampler=sampler, steps=int(steps))
        cpu = time.process_time() - t0
        r = compare_facies((x[:, 0] > 127).numpy(), data.held_out[:2 * args.n], feature_net=net)
        f, fl = r["fake"], r["floor"]
        row = {"sampler": sampler, "steps": int(steps), "n": args.n, "cpu_s_per_realization": cpu / args.n,
               "facies_frechet": f["facies_frechet"], "floor_facies_frechet": fl["facies_frechet"],
               "spanning": f["continuity"]["spanning_fraction"],
               "floor_spanning": fl["continuity"]["spanning_fraction"],
               "connectivity_y_rmse": f["connectivity_y_rmse"], "floor_connectivity_y_rmse": fl["connectivity_y_rmse"],
               "channel_fraction": f["proportion"]["mean"], "floor_channel_fraction": fl["proportion"]["mean"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = {"benchmark": "channels_sampler", "snapshot": args.snapshot, "machine": machine_info(),
           "load_average": [round(v, 2) for v in os.getloadavg()], "data": data.description, "rows": rows}
    atomic_write_text(args.out_json, json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
