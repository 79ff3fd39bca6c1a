"""Inpainting and SDEdit quality (issue 19 part 1) on MNIST and Fashion-MNIST test images with the shipped
diffusion snapshots, replacement vs RePaint, per mask.

For n random test images (seeded) and each mask, the masked region is generated unconditionally (the null class:
the known pixels alone decide the completion) and measured with the dataset's shipped domain feature net
(genlab.metrics.features):

- accuracy: the feature net's class (argmax of its logits) against the images' true labels; the same for the
  original images (upper reference) and for the masked images with the hole filled black (lower baseline);
- FID of the n completed images against the rest of the test split (the images minus the n used), beside the
  project's one floor (genlab.metrics.image.real_floor: n random training images against the same reference) and
  the originals' own FID at the same n. Only the masked region differs from real images, so this is a masked-region
  FID in context;
- the error on the known pixels in intensity units (0..1): after the final paste it is 0 by construction (both
  methods paste the known region at the end); before the paste, the denoiser's own last x0 prediction shows how far
  the generated image agrees with the constraint by itself;
- NFE (denoiser calls per image), seconds per image (wall and process CPU; the machine is shared, see `machine`).

An optional channel-facies diffusion snapshot (--facies) is conditioned on well columns (mask wells:COUNT): honoured
well cells before/after the paste, channel proportion of the completions vs the truths.

    python benchmarks/diffusion_editing.py --n 200 --data-dir /work/shared/data
Results: benchmarks/results/diffusion_editing.json (rewritten after every row) and .md beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import machine_info

import genlab.api as gl
from genlab.data.registry import load_dataset
from genlab.metrics.features import load_feature_net
from genlab.metrics.image import compare_features, label_accuracy, real_floor

RESULTS = Path(__file__).resolve().parent / "results" / "diffusion_editing.json"


class Reference:
    """The feature net, the reference features (test split minus the edited images) and a training pool for the
    floor, for one dataset."""

    def __init__(self, dataset: str, data_dir: str | None, n: int, seed: int):
        self.net = load_feature_net(dataset)
        test = load_dataset(dataset, "test", data_dir=data_dir)
        rng = np.random.default_rng(seed)
        self.idx = np.sort(rng.choice(len(test), size=n, replace=False))
        rest = np.setdiff1d(np.arange(len(test)), self.idx)
        self.images, self.labels = test.get_batch(self.idx)
        self.ref = self.net.extract(test.get_batch(rest)[0])
        train = load_dataset(dataset, "train", data_dir=data_dir)
        pool = np.sort(np.random.default_rng(seed + 1).choice(len(train), size=min(len(train), 4 * n), replace=False))
        self.train = self.net.extract(train.get_batch(pool)[0])
        self.floor = real_floor(self.train, self.ref, n, seed=seed)
        self.n, self.seed = n, seed

    def measure(self, images: torch.Tensor) -> dict[str, Any]:
        feats = self.net.extract(images)
        m = compare_features(feats, self.ref, seed=self.seed)
        return {"fid": m["fid"], "floor_fid": self.floor["fid"], "floor_n": self.floor["n"],
                "fid_over_floor": m["fid"] / self.floor["fid"], "accuracy": label_accuracy(feats[1], self.labels),
                "n": int(images.shape[0]), "num_real": m["num_real"]}


def _timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def image_rows(source: str, dataset: str, args: argparse.Namespace, store) -> None:
    ref = Reference(dataset, args.data_dir, args.n, args.seed)
    gen = gl.load(source, device="cpu")
    store(f"{dataset}/original", {"snapshot": source, "what": "the n real test images", **ref.measure(ref.images)})
    for mask in args.masks:
        hole = gl.make_mask(mask, gen.info.sample_shape, args.seed)
        black = ref.images.clone()
        black[hole.expand_as(black)] = 0
        store(f"{dataset}/{mask}/masked-black", {"snapshot": source, "mask": mask, "what": "hole filled black",
                                                 "hole_fraction": float(hole.float().mean()),
                                                 **ref.measure(black)})
        for method in args.methods:
            kw = {"jump": args.jump, "resample": args.resample} if method == "repaint" else {}
            res, cpu, wall = _timed(lambda method=method, kw=kw, mask=mask: gl.inpaint(
                gen, ref.images, mask, method=method, steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                **kw))
            store(f"{dataset}/{mask}/{method}", {
                "snapshot": source, "mask": mask, "method": method, "settings": res.settings, "nfe": res.nfe,
                "hole_fraction": float(hole.float().mean()), **ref.measure(res.images),
                "known_error": res.known_error, "cpu_s_per_image": cpu / args.n, "wall_s_per_image": wall / args.n})
    for strength in args.sdedit:
        res, cpu, wall = _timed(lambda s=strength: gl.edit(gen, ref.images, strength=s, steps=args.steps,
                                                           seed=args.seed, batch_size=args.batch_size))
        diff = (res.images.float() - ref.images.float()).abs().mean() / 255
        store(f"{dataset}/sdedit-{strength}", {"snapshot": source, "method": f"sdedit (strength {strength})", "settings": res.settings,
                                               "nfe": res.nfe, **ref.measure(res.images),
                                               "mean_abs_change": float(diff), "cpu_s_per_image": cpu / args.n,
                                               "wall_s_per_image": wall / args.n})


def facies_rows(source: str, args: argparse.Namespace, store) -> None:
    gen = gl.load(source, device="cpu")
    truths, _ = gl.real_images(source, args.facies_n, seed=args.seed, data_dir=args.data_dir)
    for method in args.methods:
        kw = {"jump": args.jump, "resample": args.resample} if method == "repaint" else {}
        res, cpu, wall = _timed(lambda method=method, kw=kw: gl.inpaint(
            gen, truths, args.facies_mask, method=method, steps=args.steps, seed=args.seed,
            batch_size=args.batch_size, **kw))
        store(f"facies/{args.facies_mask}/{method}", {
            "snapshot": source, "mask": args.facies_mask, "method": method, "n": int(truths.shape[0]),
            "nfe": res.nfe, "known_error": res.known_error,
            "channel_proportion": float(res.values.float().mean()),
            "truth_channel_proportion": float((truths > 0).float().mean()),
            "cpu_s_per_image": cpu / truths.shape[0], "wall_s_per_image": wall / truths.shape[0]})


def _f(x: Any, d: int = 3) -> str:
    return "-" if x is None else f"{x:.{d}f}" if isinstance(x, float) else str(x)


def markdown(data: dict[str, Any]) -> str:
    lines = [("| dataset / mask | method | NFE | accuracy | FID | floor | FID / floor | known-pixel error before "
             "paste (mean / max) | after paste | CPU s / image | n |"), "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in data["rows"].items():
        if key.startswith("facies"):
            continue
        ke = r.get("known_error") or {}
        lines.append(f"| {key.rsplit('/', 1)[0] if '/' in key else key} | {r.get('method', r.get('what'))} | "
                     f"{r.get('nfe', '-')} | {_f(r['accuracy'])} | {_f(r['fid'])} | {_f(r['floor_fid'])} | "
                     f"{_f(r['fid_over_floor'], 2)} | "
                     f"{_f(ke.get('unpasted_mean_abs'), 4)} / {_f(ke.get('unpasted_max_abs'), 3)} | "
                     f"{_f(ke.get('pasted_max_abs'), 1)} | {_f(r.get('cpu_s_per_image'), 3)} | {r['n']} |")
    facies = [(k, r) for k, r in data["rows"].items() if k.startswith("facies")]
    if facies:
        lines += ["", ("| facies / mask | method | NFE | well cells honoured before paste | after paste | channel "
                  "proportion (truths) | n |"), "|---|---|---|---|---|---|---|"]
        for key, r in facies:
            ke = r["known_error"]
            lines.append(f"| {key.rsplit('/', 1)[0]} | {r['method']} | {r['nfe']} | "
                         f"{_f(ke.get('unpasted_cells_honoured'))} | {_f(ke.get('pasted_cells_honoured'))} | "
                         f"{_f(r['channel_proportion'])} ({_f(r['truth_channel_proportion'])}) | {r['n']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default="mnist=mnist-ddpm,fashion-mnist=fashion-ddpm",
                   help="dataset=snapshot pairs, comma-separated.")
    p.add_argument("--masks", default="center,random-pixels:0.8", type=lambda s: s.split(","))
    p.add_argument("--methods", default="replace,repaint", type=lambda s: s.split(","))
    p.add_argument("--sdedit", default="0.5", type=lambda s: [float(v) for v in s.split(",") if v])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--jump", type=int, default=5)
    p.add_argument("--resample", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--facies", default=None, help="A channel-facies diffusion snapshot to condition on wells.")
    p.add_argument("--facies-mask", default="wells:4")
    p.add_argument("--facies-n", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = json.loads(args.out.read_text()) if args.out.is_file() else {"rows": {}}
    data.update({"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine_info(),
                 "floor": "genlab.metrics.image.real_floor: n random training images vs the same reference"})

    def store(key: str, row: dict[str, Any]) -> None:  # each row keeps its own command and machine (runs add rows)
        row = {**row, "command": data["command"], "machine": machine_info()}
        data["rows"][key] = row
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(markdown(data))
        fid = f"FID {row['fid']:.2f} (floor {row['floor_fid']:.2f}) " if "fid" in row else ""
        acc = f"accuracy {row['accuracy']:.3f} " if "accuracy" in row else ""
        print(f"{key}: {fid}{acc}known {row.get('known_error', {})}", file=sys.stderr, flush=True)

    for pair in args.pairs.split(","):
        if pair:
            dataset, source = pair.split("=")
            image_rows(source, dataset, args, store)
    if args.facies:
        facies_rows(args.facies, args, store)
    print(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
