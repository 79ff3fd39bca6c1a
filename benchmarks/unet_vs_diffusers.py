"""genlab's U-Net against diffusers' UNet2DModel at an equal parameter count (±5 %) and equal batch, in one run:
training-step time and sampling (forward) time as ratios, FLOPs per step (torch.utils.flop_counter) and the
fraction of this machine's fp32 matmul peak (measured in the same run) each network reaches.

    pip install -e ".[bench]"     # diffusers, a benchmark-only dependency
    flock /tmp/genlab-cpu.lock python benchmarks/unet_vs_diffusers.py --out benchmarks/results/unet_vs_diffusers.json

The genlab network is the one the preset trains (mnist-diffusion-quick: 24/48/48 channels, one residual block per
level down and two up, 4-head attention at 7×7 and in the middle, AdaGN scale-shift time + class conditioning).
The diffusers network mirrors it: same widths, blocks per level, attention levels and heads, class embedding
table, time-embedding width and scale-shift conditioning (``resnet_time_scale_shift="scale_shift"``); one
GroupNorm group count (8) for every width, where genlab picks per width. Both are timed with the same loop —
random images, timesteps and labels, MSE to a random target, backward, AdamW step — so only the networks differ
(genlab's own trainer adds EMA, clipping and the diffusion objective on top; see benchmarks/diffusion_mnist.py).
Measurements alternate between the networks (A B A B …) so a change in machine load hits both; medians reported.
diffusers runs NCHW as shipped, and again with channels_last weights and inputs (genlab's U-Net switches to
channels_last internally).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from common import emit, machine_info, matmul_peak_gflops
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from genlab import api
from genlab.models.registry import get_family


def genlab_unet(preset: str) -> tuple[nn.Module, dict[str, Any], tuple[int, int, int], int]:
    """The preset's U-Net, its model config, the image shape and the number of classes."""
    cfg = api.resolve_config(preset)
    model_cfg = dataclasses.asdict(cfg.model)
    shape, classes = (1, 28, 28), 10
    return get_family(cfg.family)(shape, classes, **model_cfg).unet, model_cfg, shape, classes


def diffusers_unet(model_cfg: dict[str, Any], shape: tuple[int, int, int], classes: int) -> nn.Module:
    """diffusers' UNet2DModel configured like genlab's U-Net (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import UNet2DModel

    widths = [model_cfg["base_channels"] * m for m in model_cfg["channel_mults"]]
    sizes = [shape[1] // 2 ** i for i in range(len(widths))]
    attn = [s in model_cfg["attention_resolutions"] for s in sizes]
    return UNet2DModel(
        sample_size=shape[1], in_channels=shape[0], out_channels=shape[0], block_out_channels=tuple(widths),
        layers_per_block=model_cfg["num_res_blocks"],
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)),
        attention_head_dim=widths[-1] // model_cfg["num_heads"], norm_num_groups=8,
        num_class_embeds=classes + 1, resnet_time_scale_shift="scale_shift", dropout=model_cfg["dropout"])


def forward_fn(net: nn.Module, is_diffusers: bool) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    if is_diffusers:
        return lambda x, t, y: net(x, t, class_labels=y).sample
    return lambda x, t, y: net(x, t, y)


def make_batch(batch: int, shape: tuple[int, int, int], classes: int, channels_last: bool, seed: int
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *shape, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (batch,), generator=gen).float()
    return x, t, torch.randint(0, classes, (batch,), generator=gen), torch.randn(batch, *shape, generator=gen)


class Contender:
    """One network with its optimiser, a training batch and a sampling batch."""

    def __init__(self, name: str, net: nn.Module, is_diffusers: bool, args: argparse.Namespace,
                 shape: tuple[int, int, int], classes: int, channels_last: bool = False) -> None:
        self.name, self.net = name, net.train()
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.fwd = forward_fn(self.net, is_diffusers)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4)
        self.train_batch = make_batch(args.batch, shape, classes, channels_last, 0)
        self.sample_batch = make_batch(args.sample_batch, shape, classes, channels_last, 1)[:3]
        self.params = sum(p.numel() for p in self.net.parameters())
        self.train_s: list[float] = []
        self.sample_s: list[float] = []

    def train_step(self) -> None:
        x, t, y, target = self.train_batch
        loss = F.mse_loss(self.fwd(x, t, y), target)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def sample_forward(self) -> None:
        self.fwd(*self.sample_batch)

    def timed(self, fn: Callable[[], None], into: list[float]) -> None:
        t0 = time.perf_counter()
        fn()
        into.append(time.perf_counter() - t0)

    def flops(self) -> tuple[int, int]:
        """FLOPs of one training step (forward + backward) and of one sampling forward pass."""
        x, t, y, target = self.train_batch
        with FlopCounterMode(display=False) as counter:
            F.mse_loss(self.fwd(x, t, y), target).backward()
        self.opt.zero_grad(set_to_none=True)
        train = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            self.fwd(*self.sample_batch)
        return train, counter.get_total_flops()


def median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="mnist-diffusion-quick")
    ap.add_argument("--batch", type=int, default=64, help="training batch (the preset's is 64)")
    ap.add_argument("--sample-batch", type=int, default=256, help="batch of one sampling forward pass")
    ap.add_argument("--iters", type=int, default=5, help="timed repetitions per network (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_start = list(os.getloadavg())

    g_net, model_cfg, shape, classes = genlab_unet(args.preset)
    contenders = [Contender("genlab", g_net, False, args, shape, classes),
                  Contender("diffusers", diffusers_unet(model_cfg, shape, classes), True, args, shape, classes),
                  Contender("diffusers_channels_last", diffusers_unet(model_cfg, shape, classes), True, args, shape,
                            classes, channels_last=True)]
    base = contenders[0].params
    for c in contenders[1:]:
        if abs(c.params / base - 1) > 0.05:
            raise SystemExit(f"parameter counts differ by more than 5 %: genlab {base}, {c.name} {c.params}")
    print(f"parameters: genlab {base:,}, diffusers {contenders[1].params:,} "
          f"({contenders[1].params / base - 1:+.1%})", file=sys.stderr)

    peak = matmul_peak_gflops("fp32")
    flops = {c.name: c.flops() for c in contenders}
    for c in contenders:  # warm-up (allocator, oneDNN primitive caches)
        c.train_step()
        c.sample_forward()
    for _ in range(args.iters):
        for c in contenders:
            c.timed(c.train_step, c.train_s)
        for c in contenders:
            c.timed(c.sample_forward, c.sample_s)
    peak_end = matmul_peak_gflops("fp32")

    results = {}
    for c in contenders:
        train_s, sample_s = median(c.train_s), median(c.sample_s)
        train_flops, sample_flops = flops[c.name]
        results[c.name] = {
            "parameters": c.params,
            "train_step_seconds": round(train_s, 4), "train_step_gflop": round(train_flops / 1e9, 3),
            "train_gflops_per_s": round(train_flops / train_s / 1e9, 1),
            "train_fraction_of_peak": round(train_flops / train_s / 1e9 / peak, 3),
            "sample_forward_seconds": round(sample_s, 4), "sample_forward_gflop": round(sample_flops / 1e9, 3),
            "sample_images_x_nfe_per_s": round(args.sample_batch / sample_s, 1),
            "sample_fraction_of_peak": round(sample_flops / sample_s / 1e9 / peak, 3),
            "train_step_seconds_all": [round(s, 4) for s in c.train_s],
            "sample_forward_seconds_all": [round(s, 4) for s in c.sample_s],
        }
    g = results["genlab"]
    ratios = {name: {"train_step_time_vs_genlab": round(r["train_step_seconds"] / g["train_step_seconds"], 3),
                     "sample_forward_time_vs_genlab": round(r["sample_forward_seconds"] / g["sample_forward_seconds"],
                                                            3),
                     "train_flops_vs_genlab": round(r["train_step_gflop"] / g["train_step_gflop"], 3)}
              for name, r in results.items() if name != "genlab"}
    import diffusers

    emit({
        "benchmark": "unet_vs_diffusers", "machine": machine_info(), "diffusers": diffusers.__version__,
        "preset": args.preset, "model_config": model_cfg, "image_shape": list(shape), "classes": classes,
        "train_batch": args.batch, "sample_batch": args.sample_batch, "iters": args.iters,
        "matmul_peak_gflops_fp32": round(peak, 1), "matmul_peak_gflops_fp32_at_end": round(peak_end, 1),
        "load_average_start": load_start, "load_average_end": list(os.getloadavg()),
        "parameter_ratio_diffusers_vs_genlab": round(contenders[1].params / base, 4),
        "results": results,
        "ratios": ratios, "ratios_note": "time or FLOPs of the diffusers network / genlab's; > 1: diffusers is slower",
        "command": "python " + " ".join(sys.argv),
    }, args.out)


if __name__ == "__main__":
    main()
