"""Train the domain feature nets shipped in genlab/assets/feature_nets/ and measure their real-vs-real floors.

    OMP_NUM_THREADS=1 python benchmarks/train_feature_nets.py --dataset mnist --data-dir /work/shared/data/mnist
    OMP_NUM_THREADS=1 python benchmarks/train_feature_nets.py --dataset fashion-mnist \
        --data-dir /usr/share/datasets/fashion-mnist
    python benchmarks/train_feature_nets.py --dataset mnist --data-dir ... --floors-only   # floors with shipped net

Writes `<out>/<dataset>.safetensors` + `<dataset>.json` (command, accuracy, sha256) and, with floors,
`benchmarks/results/feature_net_floors_<dataset>.json`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from genlab.data.dataset import ImageDataset
from genlab.data.registry import load_dataset
from genlab.metrics.features import ASSET_DIR, load_feature_net_file, save_feature_net, train_feature_net


def load_split(dataset: str, data_dir: Path | None, split: str) -> ImageDataset:
    """Train or test split through genlab's dataset registry (no download: the files must be local)."""
    return load_dataset(dataset, split, data_dir=data_dir, download=False)


def _summary(runs: list[dict]) -> dict:
    """Mean and std over seeds of each numeric metric, plus the per-seed values of FID."""
    keys = ("fid", "kid_mean", "is_mean", "precision", "recall")
    out = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    out.update({f"{k}_std_over_seeds": float(np.std([r[k] for r in runs])) for k in keys})
    return {**out, "fid_per_seed": [r["fid"] for r in runs], "num_fake": runs[0]["num_fake"],
            "num_real": runs[0]["num_real"], "seeds": len(runs)}


def measure_floors(net, train: ImageDataset, test: ImageDataset, counts: list[int], seeds: int) -> dict:
    """Real-vs-real floors against the whole test set: random train subsets of each count (several seeds), and
    the ordered first/last N training images, which show the writer-group ordering of the MNIST files."""
    from genlab.metrics.image import compare_features, extract, real_floor

    test_fl = extract(net, test, "test")
    train_fl = extract(net, train, "train")
    out: dict = {}
    for count in counts:
        runs = []
        for seed in range(seeds):
            runs.append(real_floor(train_fl, test_fl, count, seed=seed))  # the floor every evaluation prints
        out[f"random_{count}"] = _summary(runs)
        for name, sl in ((f"first_{count}", slice(0, count)), (f"last_{count}", slice(len(train) - count, None))):
            out[name] = compare_features((train_fl[0][sl], train_fl[1][sl]), test_fl, seed=0)
        for name in (f"random_{count}", f"first_{count}", f"last_{count}"):
            print(f"{name}: {json.dumps(out[name])}", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder for genlab.data.registry (default: $GENLAB_DATA_DIR or ./data)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ASSET_DIR)
    parser.add_argument("--floors", default="1000,10000", help="comma-separated sample counts ('' to skip)")
    parser.add_argument("--floors-only", action="store_true", help="skip training; use the saved net")
    parser.add_argument("--floor-seeds", type=int, default=5, help="random subsets per floor count")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train, test = load_split(args.dataset, args.data_dir, "train"), load_split(args.dataset, args.data_dir, "test")
    weights = args.out / f"{args.dataset}.safetensors"
    if not args.floors_only:
        net, info = train_feature_net(train, test, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                      seed=args.seed, progress=lambda s: print(s, flush=True))
        command = "OMP_NUM_THREADS=1 python " + " ".join(shlex.quote(a) for a in sys.argv)
        info = {"dataset": args.dataset, **info, "threads": torch.get_num_threads(), "command": command,
                "torch": torch.__version__}
        save_feature_net(net, weights, info)
        print(f"test accuracy {info['test_accuracy']:.4f}; wrote {weights}", flush=True)
    net = load_feature_net_file(weights)
    if args.floors:
        floors = measure_floors(net, train, test, [int(c) for c in args.floors.split(",")],
                                args.floor_seeds)
        result = Path(__file__).resolve().parent / "results" / f"feature_net_floors_{args.dataset}.json"
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps({"dataset": args.dataset, "weights": str(weights.name), "floors": floors},
                                     indent=2) + "\n")
        print(f"wrote {result}")


if __name__ == "__main__":
    main()
