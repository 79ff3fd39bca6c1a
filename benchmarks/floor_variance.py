"""How much the real-vs-real floor moves with its random draw (issue 15: one floor definition, printed with n).

`genlab.metrics.image.real_floor` draws n training images at random (seeded) and measures them against the test
set exactly as n generated images are measured. This prints, per dataset and n, the floor FID of `--draws` seeds
(0, 1, ...) on the whole training split: the spread says how far a single-draw floor, and so every "FID / floor"
ratio in the docs, can be trusted at that n. Domain feature nets only (the shipped ones); real data from --data-dir.

    python benchmarks/floor_variance.py --data-dir ../shared/data --datasets mnist,fashion-mnist --n 1000,2000 \\
        --draws 10 --out benchmarks/results/floor_variance.json
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
from genlab.metrics.image import real_floor


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


def measure(dataset: str, ns: list[int], draws: int, data_dir: str) -> dict[str, Any]:
    t0 = time.process_time()
    real = real_data(_Info(dataset), data_dir=data_dir, max_train=None, seed=0, device=torch.device("cpu"))
    out: dict[str, Any] = {"train_images": int(real.train[0].shape[0]), "test_images": int(real.test[0].shape[0]),
                           "feature_net": real.net_info}
    for n in ns:
        fids = [real_floor(real.train, real.test, n, seed=s)["fid"] for s in range(draws)]
        out[f"n={n}"] = spread(fids)
        print(f"{dataset} n={n}: floor FID over {draws} draws {out[f'n={n}']}", file=sys.stderr)
    out["cpu_seconds"] = round(time.process_time() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="Folder with the real data (MNIST IDX, Fashion-MNIST).")
    ap.add_argument("--datasets", default="mnist,fashion-mnist", help="Comma-separated image datasets.")
    ap.add_argument("--n", default="1000,2000", help="Comma-separated sample counts.")
    ap.add_argument("--draws", type=int, default=10, help="Seeds per n (>= 2).")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="Write the JSON here too.")
    args = ap.parse_args(argv)
    try:
        ns = [int(v) for v in args.n.split(",")]
    except ValueError:
        print(f"error: --n '{args.n}': expected comma-separated integers such as 1000,2000", file=sys.stderr)
        return 2
    if args.draws < 2 or min(ns) < 2:
        print(f"error: --draws {args.draws} / --n {args.n}: expected at least 2 draws and n >= 2", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"benchmark": "floor_variance", "command": " ".join(["python", *sys.argv]),
                              "definition": "genlab.metrics.image.real_floor: n random training images (seed s) "
                                            "against the whole test split, domain feature net",
                              "machine": machine_info(), "datasets": {}}
    try:
        for ds in args.datasets.split(","):
            result["datasets"][ds] = measure(ds, ns, args.draws, args.data_dir)
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
