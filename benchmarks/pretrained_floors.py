"""Re-measure the real-vs-real floors recorded in the pretrained manifest under the current definition (issue 15).

`genlab.metrics.image.real_floor` is now the median FID of `--draws` random draws of n training images (seeds
seed..seed+draws-1) with its IQR; the manifest's floors were single draws (seed 0). A floor does not depend on the
model, only on the dataset, n, the training pool it is drawn from and the seed, so no sample is generated here: for
every floor in the manifest (`checkpoints.pretrained.floor_holders`: evaluate results and flat benchmark rows,
guidance sweeps included) this finds the pool it was measured with — the whole training split, or the seeded
10000-image subset `genlab evaluate --max-train 10000` loads — by recomputing draw 0 and requiring it to equal the
recorded value (relative 1e-3), then measures the median floor there. With --write-manifest the matched floors are
replaced (`remeasure_floor`: floor fields only, the old value kept as superseded; the weights files are untouched);
a floor whose setting is not found is reported and left alone. `--table-n` adds, per dataset and pool, the old
single draw and the new median at those n, for re-deriving the "x floor" ratios quoted in the docs.

    python benchmarks/pretrained_floors.py --data-dir ../shared/data --draws 10 --table-n 100,200,500,1000,2000 \\
        --threads 1 --write-manifest --out benchmarks/results/pretrained_floors.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import torch
from common import emit, machine_info
from floor_variance import _Info

from genlab.checkpoints import pretrained
from genlab.errors import GenlabError
from genlab.evaluation import _random_subset, real_data
from genlab.metrics.image import FLOOR_DRAWS, check_floor_draws, floor_fids, real_floor

EVALUATE_POOL = 10000  # the --max-train of the shipped `genlab evaluate` measurements
MATCH_RTOL = 1e-3  # draw 0 recomputed vs the recorded single draw (feature extraction batches differ by ~1e-5)


def _n_of(holder: dict[str, Any], layout: str) -> tuple[int | None, int]:
    """(n, seed) of a recorded floor: evaluate's floor.n / floor.seed, or a flat row's floor_n / n / samples."""
    if layout == "nested":
        return holder["floor"].get("n"), int(holder["floor"].get("seed", 0))
    for key in ("floor_n", "n", "samples", "num_samples"):
        if isinstance(holder.get(key), int):
            return holder[key], 0
    return None, 0


def _holder(entry: dict[str, Any], keys: tuple[str | int, ...]) -> dict[str, Any]:
    node: Any = entry["metrics"]
    for key in keys:
        node = node[key]
    return node


class Floors:
    """Real features of one dataset (whole training split and the evaluate pool) and cached floors per setting."""

    def __init__(self, dataset: str, data_dir: str, draws: int, pools: list[int]) -> None:
        real = real_data(_Info(dataset), data_dir=data_dir, max_train=None, seed=0, device=torch.device("cpu"))
        self.test, self.draws, self.net_info = real.test, draws, real.net_info
        self.pools = {"all": real.train}
        for size in pools:  # what real_data(max_train=size, seed=0) loads: a seeded random subset
            subset = torch.from_numpy(_random_subset(len(real.train[0]), size, 0))
            self.pools[str(size)] = (real.train[0][subset], real.train[1][subset])
        self._cache: dict[tuple[str, int, int], dict[str, Any]] = {}

    def draw0(self, pool: str, n: int, seed: int) -> float:
        return floor_fids(self.pools[pool][0], self.test[0], n, [seed])[0]

    def floor(self, pool: str, n: int, seed: int = 0) -> dict[str, Any]:
        key = (pool, n, seed)
        if key not in self._cache:
            f = real_floor(self.pools[pool], self.test, n, seed=seed, draws=self.draws)
            self._cache[key] = {"n": n, "seed": seed, "pool": pool, "draws": f["draws"], "fid": f["fid"],
                                "fid_q25": f["fid_q25"], "fid_q75": f["fid_q75"], "fid_draws": f["fid_draws"],
                                "seed0_single_draw": f["fid_draws"][0]}
        return self._cache[key]

    def match(self, n: int, seed: int, old: float) -> str | None:
        """The pool whose draw 0 reproduces the recorded floor `old`, else None."""
        for pool in self.pools:
            if n <= len(self.pools[pool][0]) and abs(self.draw0(pool, n, seed) - old) <= MATCH_RTOL * abs(old):
                return pool
        return None


def _editing_floors(n: int, draws: int, data_dir: str) -> dict[str, Any]:
    """diffusion_editing.py's floor (seed 0) per dataset: its single draw 0 and the median of `draws`."""
    from diffusion_editing import Reference

    out = {}
    for ds in ("mnist", "fashion-mnist"):
        ref = Reference(ds, data_dir, n, 0)
        f = real_floor(ref.train, ref.ref, n, seed=0, draws=draws)
        out[ds] = {"n": n, "pool": len(ref.train[0]), "reference": len(ref.ref[0]), "draws": f["draws"],
                   "seed0_single_draw": f["fid_draws"][0], "fid": f["fid"], "fid_q25": f["fid_q25"],
                   "fid_q75": f["fid_q75"], "fid_draws": f["fid_draws"]}
        print(f"editing {ds} n={n}: {f['fid_draws'][0]:.4g} (1 draw) -> {f['fid']:.4g}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, help="Folder with the real data (MNIST IDX, Fashion-MNIST).")
    ap.add_argument("--datasets", default="mnist,fashion-mnist", help="Comma-separated image datasets.")
    ap.add_argument("--draws", type=int, default=FLOOR_DRAWS, help="Draws the floor FID is the median of.")
    ap.add_argument("--pools", default=str(EVALUATE_POOL),
                    help="Training pool sizes (seeded subsets, as --max-train loads them) besides the whole split.")
    ap.add_argument("--table-n", default="", help="Comma-separated n for the old-vs-new floor table (optional).")
    ap.add_argument("--editing-n", type=int, default=0,
                    help="Also the floor of benchmarks/diffusion_editing.py at this n (its reference: the test split "
                         "minus the n edited images; its pool: 4n training images), old single draw and new median.")
    ap.add_argument("--write-manifest", action="store_true", help="Replace the matched floors in the manifest.")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="Write the JSON here too.")
    args = ap.parse_args(argv)
    try:
        check_floor_draws(args.draws)
        table_n = [int(v) for v in args.table_n.split(",") if v.strip()]
        pools = [int(v) for v in args.pools.split(",") if v.strip()]
    except (GenlabError, ValueError) as e:
        print(f"error: {e if isinstance(e, GenlabError) else '--table-n / --pools: expected integers'}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    command = " ".join(["python", *sys.argv])
    t0, load0 = time.process_time(), os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "pretrained_floors", "command": command,
        "definition": "genlab.metrics.image.real_floor: median FID of `draws` draws of n random training images "
                      "(seeds seed..seed+draws-1) from the pool against the whole test split, domain feature net; "
                      f"pool 'all' = whole training split, '{EVALUATE_POOL}' = the seeded subset genlab evaluate "
                      f"--max-train {EVALUATE_POOL} loads",
        "draws": args.draws, "machine": machine_info(), "entries": {}, "unmatched": [], "table": {}}
    entries = pretrained.manifest()
    try:
        for ds in [d for d in args.datasets.split(",") if d]:
            floors = Floors(ds, args.data_dir, args.draws, pools)
            for name, entry in sorted(entries.items()):
                if entry.get("dataset") != ds:
                    continue
                for keys, layout in pretrained.floor_holders(entry):
                    holder = _holder(entry, keys)
                    n, seed = _n_of(holder, layout)
                    old = holder["floor"]["fid"] if layout == "nested" else holder["floor_fid"]
                    old = holder.get("floor_superseded_fid", (holder.get("floor") or {}).get("superseded_fid", old))
                    pool = floors.match(n, seed, old) if n else None
                    where = "metrics" + "".join(f"[{k!r}]" for k in keys)
                    if pool is None:
                        result["unmatched"].append({"name": name, "where": where, "n": n, "old_fid": old})
                        print(f"{name} {where}: n={n} floor {old:.4g} not reproduced; left alone", file=sys.stderr)
                        continue
                    new = floors.floor(pool, n, seed)
                    result["entries"].setdefault(name, []).append(
                        {"where": where, "layout": layout, "old_single_draw": old, **new})
                    print(f"{name} {where}: n={n} pool {pool}: {old:.4g} (1 draw) -> {new['fid']:.4g} (median of "
                          f"{new['draws']}, IQR {new['fid_q25']:.3g}-{new['fid_q75']:.3g})", file=sys.stderr)
                    if args.write_manifest:
                        pretrained.remeasure_floor(name, keys, new, command)
            result["table"][ds] = {pool: {f"n={n}": floors.floor(pool, n) for n in table_n}
                                   for pool in floors.pools}
            result["table"][ds]["feature_net"] = floors.net_info
        if args.editing_n:
            result["editing"] = _editing_floors(args.editing_n, args.draws, args.data_dir)
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["cpu_seconds"] = round(time.process_time() - t0, 1)
    result["load_avg_1min_start_end"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    result["manifest_written"] = bool(args.write_manifest)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
