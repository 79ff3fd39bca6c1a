"""Train the facies feature net shipped as genlab/assets/feature_nets/channels-64.* and measure its Fréchet floors.

The net is genlab's FeatureNet (the class and training code of the MNIST feature nets, genlab.metrics.features)
trained to classify procedural channel images by what the generator drew: channel count (1–3) × mean-width class (3)
× mean-swing class (2) = 18 classes (genlab.data.sources.channels.feature_class). Its images use data seed 101, so
they are disjoint from every preset's data (seed 0). Its 64-d embedding is the feature space of the "facies Fréchet
distance" in `genlab channels compare`.

Floors: the Fréchet distance between two disjoint sets of held-out procedural images (seed 0, indices far past the
presets' training range) for several sample counts and seeds — what a perfect generator would score. Sensitivity:
the distance from real images to images of a changed style (thin or wide channels only, straighter, one channel,
no cuts/gaps), which a useful facies metric must put well above the floor.

    OMP_NUM_THREADS=1 python benchmarks/channels_feature_net.py --out-json benchmarks/results/channels_feature_net.json
    python benchmarks/channels_feature_net.py --floors-only --out-json ...   # floors with the shipped net
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import emit, machine_info

from genlab.data.sources.channels import (
    FEATURE_SWING_EDGES,
    FEATURE_WIDTH_EDGES,
    ChannelStyle,
    generate_channels,
    labelled_procedural_channels,
)
from genlab.metrics.facies import FACIES_FEATURE_NET, facies_features, feature_frechet, load_facies_feature_net
from genlab.metrics.features import ASSET_DIR, FeatureNet, save_feature_net, train_feature_net

HELD_OUT_START = 1_000_000  # procedural image indices used for floors (the presets train on 0..n−1 of seed 0)

STYLES = {
    "thin channels only (width 5-9 px)": {"width_px": (5.0, 9.0)},
    "wide channels only (width 14-18 px)": {"width_px": (14.0, 18.0)},
    "straighter (swing 5-15 px)": {"swing_px": (5.0, 15.0)},
    "one channel per image": {"channel_count_probs": (1.0,)},
    "no cuts, no crossing gaps": {"cut_prob": 0.0, "gap_px": 0.0},
}


def factor_accuracies(net: FeatureNet, test: Any) -> dict[str, float]:
    """Top-1 accuracy of the full class and of each factor (count, width class, swing class) on `test`."""
    images, labels = test.get_batch(np.arange(len(test)))
    pred = net.extract(images)[1].argmax(1)
    n_w, n_s = len(FEATURE_WIDTH_EDGES) + 1, len(FEATURE_SWING_EDGES) + 1

    def split(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return c // (n_w * n_s), (c // n_s) % n_w, c % n_s

    p, t = split(pred), split(labels)
    out = {"class": float((pred == labels).float().mean())}
    out.update({name: float((a == b).float().mean()) for name, a, b in zip(("count", "width", "swing"), p, t)})
    return out


def floors(net: FeatureNet, size: int, counts: list[int], seeds: int) -> dict[str, Any]:
    """Fréchet distance between two disjoint random sets of n held-out procedural images, over `seeds` draws."""
    pool = generate_channels(2 * max(counts), seed=0, size=size, start=HELD_OUT_START)
    feats = facies_features(net, pool)
    out = {}
    for n in counts:
        values = []
        for s in range(seeds):
            perm = torch.from_numpy(np.random.default_rng(s).permutation(len(pool)))
            values.append(feature_frechet(feats[perm[:n]], feats[perm[n:2 * n]]))
        out[str(n)] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values, "n": n}
    return out


def sensitivity(net: FeatureNet, size: int, n: int) -> dict[str, float]:
    """Fréchet distance from n held-out default-style images to n images of each changed style."""
    real = facies_features(net, generate_channels(n, seed=0, size=size, start=HELD_OUT_START))
    out = {}
    for name, change in STYLES.items():
        style = dataclasses.replace(ChannelStyle(), **change)
        other = generate_channels(n, seed=7, size=size, start=HELD_OUT_START, style=style)
        out[name] = feature_frechet(facies_features(net, other), real)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="image side the net is trained at")
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--data-seed", type=int, default=101, help="procedural seed of the net's images (presets use 0)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--feature-dim", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ASSET_DIR, help="folder for channels-64.safetensors + .json")
    ap.add_argument("--floor-counts", default="200,500,1000")
    ap.add_argument("--floor-seeds", type=int, default=5)
    ap.add_argument("--floors-only", action="store_true", help="skip training; measure the saved net")
    ap.add_argument("--out-json", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    test = labelled_procedural_channels(args.n_test, args.data_seed, args.size, start=args.n_train)
    result: dict[str, Any] = {"benchmark": "channels_feature_net", "machine": machine_info()}
    if args.floors_only:
        net = load_facies_feature_net(directory=args.out)
    else:
        train = labelled_procedural_channels(args.n_train, args.data_seed, args.size)
        result["train_class_counts"] = np.bincount(train.labels, minlength=train.num_classes).tolist()
        net, info = train_feature_net(train, test, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                      seed=args.seed, feature_dim=args.feature_dim)
        info.update({"dataset": "channels-procedural", "data_seed": args.data_seed, "size": args.size,
                     "classes": list(train.class_names),
                     "class_rule": (f"channel count x mean-width class (edges {FEATURE_WIDTH_EDGES} px at 128) "
                                    f"x mean-swing class (edges {FEATURE_SWING_EDGES} px at 128)"),
                     "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "command": "python " + " ".join(shlex.quote(a) for a in sys.argv)})
        save_feature_net(net, args.out / f"{FACIES_FEATURE_NET}.safetensors", info)
        result["training"] = info
    result["parameters"] = int(sum(p.numel() for p in net.parameters()))
    result["test_accuracy"] = {**factor_accuracies(net, test), "n": len(test)}
    counts = [int(c) for c in args.floor_counts.split(",") if c]
    result["frechet_floor"] = floors(net, args.size, counts, args.floor_seeds)
    result["frechet_changed_style"] = {"n": 500, **sensitivity(net, args.size, 500)}
    result["seconds"] = round(time.time() - t0, 1)
    result["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    emit(result, args.out_json)


if __name__ == "__main__":
    main()
