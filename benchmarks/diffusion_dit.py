"""DiT vs U-Net at equal training CPU minutes (issue 19 part 3): FID with its floor and n, GFLOP per image per
network evaluation, parameters, sampling images/s — every snapshot measured in one process, same sampler, NFE,
seeds, real reference and feature net.

    # the two trainings (1 thread each, through the CPU-slot script; see README "DiT vs U-Net")
    genlab train mnist-diffusion-quick --run-dir RUNS/unet train.precision=fp32 train.threads=1 \\
        train.max_steps=200 ...
    genlab train mnist-dit --run-dir RUNS/dit train.max_steps=265 ...
    # measure both (GFLOP, speed, FID n=1000 against the floor)
    python benchmarks/diffusion_dit.py --snapshot unet=RUNS/unet --snapshot dit=RUNS/dit --n 1000 \\
        --sampler dpmpp-2m --steps 10 --guidance 1.5 --out benchmarks/results/diffusion_dit.json

GFLOP: 2 x multiply-accumulates of one forward pass for one image (batch 1, a class label), counted by
torch.utils.flop_counter.FlopCounterMode, plus the attention products that operator counter does not see on a CPU
(scaled_dot_product_attention: QK^T and AV, 4·L_q·L_k·d per head), counted here by wrapping that function.
Training time: the process CPU seconds of the run's training steps (snapshot header `train_cpu_seconds`), one
thread; wall time is inflated by the shared machine, CPU time much less so.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from common import emit, machine_info
from torch.utils.flop_counter import FlopCounterMode

from genlab.evaluation import _evaluate_loaded, real_data, sampling_options, train_pool
from genlab.inference import find_snapshot, load


@contextlib.contextmanager
def attention_flops():
    """Counts the FLOPs of F.scaled_dot_product_attention calls made inside the block (FlopCounterMode does not
    see the CPU kernel): yields a one-element list holding the running total."""
    total, original = [0], F.scaled_dot_product_attention

    def counted(q, k, v, *args, **kwargs):
        total[0] += 4 * q.shape[:-2].numel() * q.shape[-2] * k.shape[-2] * q.shape[-1]
        return original(q, k, v, *args, **kwargs)

    F.scaled_dot_product_attention = counted
    try:
        yield total
    finally:
        F.scaled_dot_product_attention = original


def network_gflop(net: torch.nn.Module, shape: tuple[int, ...], conditional: bool) -> float:
    """GFLOP of one forward pass of the denoiser `net` on one input of `shape` (C, H, W)."""
    x, t = torch.randn(1, *shape), torch.tensor([500.0])
    y = torch.zeros(1, dtype=torch.long) if conditional else None
    with torch.no_grad(), attention_flops() as attn, FlopCounterMode(display=False) as counter:
        net(x, t, y)
    return (counter.get_total_flops() + attn[0]) / 1e9


def decoder_gflop(model: torch.nn.Module) -> float | None:
    """GFLOP of decoding one latent (latent diffusion: once per image, after the sampler), else None."""
    if not hasattr(model, "from_latent"):
        return None
    with torch.no_grad(), attention_flops() as attn, FlopCounterMode(display=False) as counter:
        model.from_latent(torch.randn(1, *model.noise_shape))
    return (counter.get_total_flops() + attn[0]) / 1e9


def sampling_speed(gen, options: dict[str, Any], n: int, seed: int = 10_000) -> dict[str, float]:
    """Images per second (wall and process CPU) generating n images in one batch with `options`."""
    gen.generate(2, seed=seed, **options)  # warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    gen.generate(n, seed=seed, batch_size=n, **options)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"images": n, "images_per_s": round(n / wall, 2), "images_per_cpu_s": round(n / cpu, 2),
            "cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}


def describe(gen) -> dict[str, Any]:
    """What was trained and for how long (snapshot header) and the denoiser's size and cost."""
    model, info = gen.model, gen.info
    kw = info.kwargs
    conditional = gen.num_classes > 0
    backbone = kw.get("backbone", "unet")
    arch = ({k: kw[k] for k in ("dit_patch_size", "dit_width", "dit_depth", "num_heads", "dit_pos_embed")}
            if backbone == "dit" else
            {k: kw[k] for k in ("base_channels", "channel_mults", "num_res_blocks", "attention_resolutions")})
    return {"family": info.family, "backbone": backbone, "architecture": arch, "prediction": kw.get("prediction"),
            "diffusion_shape": list(model.noise_shape),
            "denoiser_parameters": sum(p.numel() for p in model.unet.parameters()),
            "gflop_per_network_eval": round(network_gflop(model.unet, model.noise_shape, conditional), 4),
            "decoder_gflop_per_image": (round(g, 4) if (g := decoder_gflop(model)) is not None else None),
            "train_steps": info.step, "images_seen": info.images_seen,
            "train_cpu_min": round(info.train_cpu_seconds / 60, 2) if info.train_cpu_seconds else None,
            "train_wall_min": round(info.train_seconds / 60, 2) if info.train_seconds else None}


def measure(label: str, source: str, args: argparse.Namespace, real=None) -> tuple[dict[str, Any], Any]:
    """One snapshot: description, sampling speed, FID against the floor (n = args.n). Returns (row, real data) so
    the next snapshot of the same dataset reuses the featurised reference."""
    path = find_snapshot(source)
    gen = load(path, device="cpu")
    if real is None:
        real = real_data(gen.info, path=path, data_dir=args.data_dir,
                         max_train=train_pool(args.max_train, args.n), seed=args.seed, device=gen.device)
    options = sampling_options(gen, args.sampler, args.steps, args.guidance)
    row = {"label": label, "snapshot": str(path), **describe(gen), "sampling": options,
           "speed": sampling_speed(gen, options, args.speed_n)}
    c0 = time.process_time()
    result = _evaluate_loaded(gen, real, n=args.n, options=options, split="test", seed=args.seed,
                              batch_size=args.batch_size, progress=None)
    m = result["metrics"]
    row.update({"nfe": result["nfe"], "n": args.n, "fid": m["fid"], "floor_fid": m["floor"]["fid"],
                "floor_n": m["floor"]["n"], "fid_over_floor": round(m["fid"] / m["floor"]["fid"], 2),
                "kid_mean": m.get("kid_mean"), "precision": m.get("precision"), "recall": m.get("recall"),
                "label_accuracy": m.get("label_accuracy"), "eval_cpu_s": round(time.process_time() - c0, 1),
                "feature_net": real.net_info})
    print(f"{label}: FID {m['fid']:.2f} vs floor {m['floor']['fid']:.3f} (n={args.n}), "
          f"{row['gflop_per_network_eval']} GFLOP/eval, {row['speed']['images_per_s']} img/s", file=sys.stderr)
    return row, real


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--snapshot", action="append", default=[], metavar="LABEL=SOURCE",
                   help="a snapshot (file, run directory or pretrained name) to measure, with its table label")
    p.add_argument("--n", type=int, default=1000, help="generated images for FID (and the floor's n)")
    p.add_argument("--sampler", default="dpmpp-2m")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=1.5)
    p.add_argument("--speed-n", type=int, default=64, help="images generated in one batch for images/s")
    p.add_argument("--max-train", type=int, default=2000, help="training images featurised for the floor (>= 2n)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None)
    return p


def main() -> None:
    args = parser(__doc__).parse_args()
    torch.set_num_threads(args.threads)
    rows, real = [], None
    for spec in args.snapshot:
        label, _, source = spec.partition("=")
        row, real = measure(label, source, args, real)
        rows.append(row)
    emit({"benchmark": "diffusion_dit", "machine": machine_info(), "command": " ".join(["python", *sys.argv]),
          "settings": {k: getattr(args, k) for k in ("n", "sampler", "steps", "guidance", "max_train", "seed")},
          "rows": rows}, args.out)


if __name__ == "__main__":
    main()
