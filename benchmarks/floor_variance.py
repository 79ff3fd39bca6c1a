"""How much the real-vs-real floor moves with its random draws (issue 15: one floor definition, printed with n).

`genlab.metrics.image.real_floor` draws n training images at random and measures them against the test set exactly
as n generated images are measured; its FID is the median over `draws` draws (seeds seed, seed + 1, ...; default
FLOOR_DRAWS = 25). This measures, per dataset and n on the whole training split, `--total` single-draw floor FIDs
(seeds 0, 1, ...; `floor_fids`, FID only) and reports (1) their spread: how far one draw, the floor genlab printed
until now, can be off; and (2) for each k in `--draws`, the spread of the medians of the total // k disjoint groups
of k seeds, i.e. of `real_floor(seed=g * k, draws=k)["fid"]` (group 0 is checked against real_floor itself): how far
the floor every "FID / floor" ratio is divided by can still move with k draws ("rel_std": std / median of all).
Domain feature nets only (the shipped ones).

    python benchmarks/floor_variance.py --data-dir ../shared/data --datasets mnist,fashion-mnist --n 1000,2000 \\
        --draws 10,25,50 --total 200 --threads 1 --out benchmarks/results/floor_variance.json
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import torch
from common import emit, machine_info

from genlab.errors import GenlabError
from genlab.evaluation import real_data
from genlab.metrics.image import FLOOR_DRAWS, floor_draw_seeds, floor_fids, real_floor


class _Info:
    """What `real_data` reads from a snapshot header: the domain, its codec (8-bit images) and the dataset."""

    def __init__(self, dataset: str) -> None:
        self.dataset, self.domain, self.data_config, self.codec = dataset, "image", {"dataset": dataset}, {"levels": 256}


def spread(values: list[float]) -> dict[str, Any]:
    """Median, quartiles, min, max and max/min of a list of floors."""
    a = np.asarray(values, dtype=float)
    q25, med, q75 = np.percentile(a, [25, 50, 75])
    return {"values": [round(float(v), 4) for v in a], "median": round(float(med), 4), "q25": round(float(q25), 4),
            "q75": round(float(q75), 4), "min": round(float(a.min()), 4), "max": round(float(a.max()), 4),
            "max_over_min": round(float(a.max() / a.min()), 2)}


def measure(dataset: str, ns: list[int], draw_counts: list[int], total: int, data_dir: str) -> dict[str, Any]:
    t0 = time.process_time()
    real = real_data(_Info(dataset), data_dir=data_dir, max_train=None, seed=0, device=torch.device("cpu"))
    out: dict[str, Any] = {"train_images": int(real.train[0].shape[0]), "test_images": int(real.test[0].shape[0]),
                           "feature_net": real.net_info, "extract_cpu_seconds": round(time.process_time() - t0, 1)}
    for n in ns:
        t1 = time.process_time()
        fids = floor_fids(real.train[0], real.test[0], n, floor_draw_seeds(0, total))
        fid_seconds = time.process_time() - t1
        check = real_floor(real.train, real.test, n, seed=0, draws=FLOOR_DRAWS)
        if not np.allclose(check["fid_draws"], fids[:FLOOR_DRAWS], rtol=1e-9):
            raise GenlabError(f"{dataset} n={n}: real_floor's draws differ from floor_fids' (not one definition)")
        typical = float(np.median(fids))
        row: dict[str, Any] = {"single_draw": {**spread(fids), "rel_std": round(float(np.std(fids)) / typical, 3)},
                               "seed0_single_draw": round(fids[0], 4),
                               f"real_floor_seed0_draws{FLOOR_DRAWS}": round(check["fid"], 4),
                               "cpu_seconds_per_fid": round(fid_seconds / len(fids), 4)}
        for k in draw_counts:
            medians = [float(np.median(fids[g * k:(g + 1) * k])) for g in range(total // k)]
            row[f"median_of_{k}"] = {**spread(medians), "groups": len(medians),
                                     "rel_std": round(float(np.std(medians)) / typical, 3)}
        out[f"n={n}"] = row
        print(f"{dataset} n={n}: one draw {row['single_draw']['min']}-{row['single_draw']['max']} (median "
              f"{row['single_draw']['median']}); " + "; ".join(
                  f"median of {k}: {row[f'median_of_{k}']['min']}-{row[f'median_of_{k}']['max']} (rel. std "
                  f"{row[f'median_of_{k}']['rel_std']})" for k in draw_counts), file=sys.stderr)
    out["cpu_seconds"] = round(time.process_time() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="Folder with the real data (MNIST IDX, Fashion-MNIST).")
    ap.add_argument("--datasets", default="mnist,fashion-mnist", help="Comma-separated image datasets.")
    ap.add_argument("--n", default="1000,2000", help="Comma-separated sample counts.")
    ap.add_argument("--draws", default="10,25,50", help="Comma-separated draw counts k to test the median of.")
    ap.add_argument("--total", type=int, default=200, help="Single draws per n (>= 2 k for every k).")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="Write the JSON here too.")
    args = ap.parse_args(argv)
    try:
        ns = [int(v) for v in args.n.split(",")]
        draw_counts = [int(v) for v in args.draws.split(",")]
    except ValueError:
        print(f"error: --n '{args.n}' / --draws '{args.draws}': expected comma-separated integers such as 1000,2000",
              file=sys.stderr)
        return 2
    if min(draw_counts) < 2 or args.total < max(2 * max(draw_counts), FLOOR_DRAWS) or min(ns) < 2:
        print(f"error: --draws {args.draws} / --total {args.total} / --n {args.n}: expected draw counts >= 2, a total "
              f"of at least twice the largest (and >= {FLOOR_DRAWS}) and n >= 2", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"benchmark": "floor_variance", "command": " ".join(["python", *sys.argv]),
                              "definition": "genlab.metrics.image.real_floor: the median FID of `draws` draws of n "
                                            "random training images (seeds seed..seed+draws-1) against the whole "
                                            "test split, domain feature net; single_draw: the FIDs of seeds "
                                            "0..total-1 alone; median_of_<k>: the medians of the disjoint groups "
                                            "of k seeds (= real_floor(seed=g*k, draws=k)); rel_std: std / the "
                                            "median of all single draws",
                              "draws": draw_counts, "total": args.total, "default_draws": FLOOR_DRAWS,
                              "machine": machine_info(), "datasets": {}}
    try:
        for ds in args.datasets.split(","):
            result["datasets"][ds] = measure(ds, ns, draw_counts, args.total, args.data_dir)
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
