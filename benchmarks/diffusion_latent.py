"""Latent vs pixel-space diffusion at equal training CPU minutes (issue 19 part 2): FID with its floor and n,
training CPU minutes (autoencoder + latent diffusion against pixel diffusion), sampling images/s and GFLOP, and the
autoencoder's reconstruction FID (the ceiling a latent model cannot pass) — one process, same sampler, NFE, seeds,
real reference and feature net.

    genlab train mnist-ldm-ae --run-dir RUNS/ae train.max_steps=100 ...
    genlab train mnist-ldm --run-dir RUNS/ldm model.autoencoder=RUNS/ae train.max_steps=580 ...
    python benchmarks/diffusion_latent.py --snapshot pixel=RUNS/unet --snapshot latent=RUNS/ldm \\
        --autoencoder RUNS/ae --reuse benchmarks/results/diffusion_dit.json --n 1000 --sampler dpmpp-2m \\
        --steps 10 --guidance 1.5 --out benchmarks/results/diffusion_latent.json

--reuse takes a row of an earlier diffusion_dit.py result instead of measuring it again when its snapshot and
sampling settings are the same (the pixel U-Net of the DiT comparison is the pixel baseline here).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from common import emit, machine_info
from diffusion_dit import measure, parser

from genlab.evaluation import _data_settings, _load_images
from genlab.inference import find_snapshot, load
from genlab.metrics.image import compare_features


def autoencoder_row(source: str, real, args) -> dict[str, Any]:
    """The autoencoder's training cost and its reconstruction FID: n random training images, reconstructed,
    against the test reference — beside the same n images not reconstructed (the floor at this n)."""
    path = find_snapshot(source)
    gen = load(path, device="cpu")
    dataset, kwargs = _data_settings(gen.info, args.data_dir)
    images, _ = _load_images(dataset, "train", kwargs, args.n, args.seed + 1)
    c0 = time.process_time()
    with torch.no_grad():
        recon = gen.codec.to_display(gen.model.reconstruct(gen.codec.encode(images)))
    cpu = time.process_time() - c0
    fid = {name: compare_features(real.net.extract(x, args.batch_size), real.test, seed=args.seed)["fid"]
           for name, x in (("reconstructed", recon), ("original", images))}
    info = gen.info
    return {"snapshot": str(path), "family": info.family, "latent_shape": list(gen.model.latent_shape),
            "parameters": sum(p.numel() for p in gen.model.parameters()), "train_steps": info.step,
            "train_cpu_min": round(info.train_cpu_seconds / 60, 2) if info.train_cpu_seconds else None,
            "train_wall_min": round(info.train_seconds / 60, 2) if info.train_seconds else None,
            "n": args.n, "reconstruction_fid": fid["reconstructed"], "same_images_fid": fid["original"],
            "reconstruct_images_per_cpu_s": round(args.n / max(cpu, 1e-9), 1)}


def reused_row(path: str | None, label: str, source: str, args) -> dict[str, Any] | None:
    """The row of an earlier result file measured on the same snapshot with the same settings, else None."""
    if not path or not Path(path).exists():
        return None
    earlier = json.loads(Path(path).read_text())
    same = all(earlier["settings"].get(k) == getattr(args, k) for k in ("n", "sampler", "steps", "guidance", "seed"))
    for row in earlier.get("rows", []):
        if same and row["snapshot"] == str(find_snapshot(source)):
            return {**row, "label": label, "reused_from": path}
    return None


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--autoencoder", required=True, help="the autoencoder run the latent model was trained in")
    p.add_argument("--reuse", default=None, help="an earlier diffusion_dit.py JSON whose rows may be reused")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows, real = [], None
    for spec in args.snapshot:
        label, _, source = spec.partition("=")
        row = reused_row(args.reuse, label, source, args)
        if row is None:
            row, real = measure(label, source, args, real)
        rows.append(row)
    if real is None:  # every diffusion row reused: featurise the reference for the autoencoder's FID
        from genlab.evaluation import real_data, train_pool
        gen = load(find_snapshot(args.autoencoder), device="cpu")
        real = real_data(gen.info, data_dir=args.data_dir, max_train=train_pool(args.max_train, args.n),
                         seed=args.seed)
    ae = autoencoder_row(args.autoencoder, real, args)
    for row in rows:  # the latent model's training budget includes its autoencoder's
        if row["family"] == "latent-diffusion" and row.get("train_cpu_min") and ae["train_cpu_min"]:
            row["train_cpu_min_with_autoencoder"] = round(row["train_cpu_min"] + ae["train_cpu_min"], 2)
    emit({"benchmark": "diffusion_latent", "machine": machine_info(), "command": " ".join(["python", *sys.argv]),
          "settings": {k: getattr(args, k) for k in ("n", "sampler", "steps", "guidance", "max_train", "seed")},
          "rows": rows, "autoencoder": ae}, args.out)


if __name__ == "__main__":
    main()
