"""Procedural meander generator vs. the numbers of the real LTrace set, and vs. real channel sets for orientation.

Claims checked (targets from shared/data/SOURCES.md §2a, read off 12 public figures of the real train_images.h5):
1–3 channels per image, channel fraction 0.10–0.33 (mean ≈ 0.22), widths ≈ 5–18 px constant along a channel,
lateral swing ≈ 15–40 px. Widths are reported twice: as drawn (generator parameters) and as measured on the images
(2·EDT − 1 on ridge pixels of the Euclidean distance transform, i.e. the local channel thickness). Speed is images/s
on one core (wall clock and CPU time). With --refs (the folder shared/data/channels) the generator, drawn at the reference image size, is
compared with the real 64×64 set (channels64) and MPS45 — those are E–W Strebelle-type channels, so compare the
y-curves of the generator with their x-curves (noted in the JSON); the numbers are for orientation, not a target.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/channels_generator_stats.py --n 2000 \
        --refs /work/shared/data/channels --out benchmarks/results/channels_generator_stats.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import emit, machine_info
from scipy import ndimage

from genlab.data.sources.channels import generate_channels
from genlab.data.sources.facies_refs import REFERENCE_FILES, load_channels64, load_mps45
from genlab.metrics.facies import (
    channel_proportion,
    connectivity_function,
    indicator_variogram,
    label_channels,
    pattern_js,
)

TARGETS = {
    "channels_per_image": [1, 3],
    "fraction_range": [0.10, 0.33],
    "fraction_mean": 0.22,
    "width_px": [5, 18],
    "swing_px": [15, 40],
}


def _q(x: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(np.mean(x)),
        "std": float(np.std(x)),
        "min": float(np.min(x)),
        "p05": float(np.percentile(x, 5)),
        "p50": float(np.median(x)),
        "p95": float(np.percentile(x, 95)),
        "max": float(np.max(x)),
    }


def speed(size: int, n: int) -> dict[str, float]:
    """Images per wall-clock second and per CPU second of this process (the machine may be shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    generate_channels(n, seed=123, size=size)
    return {"per_wall_s": n / (time.perf_counter() - t0), "per_cpu_s": n / (time.process_time() - c0)}


def measured_widths(images: np.ndarray) -> np.ndarray:
    """Local thickness 2·EDT − 1 at ridge pixels (EDT equal to its 3×3 maximum and ≥ 2) of every image."""
    out = []
    for img in images:
        edt = ndimage.distance_transform_edt(img)
        ridge = (edt >= 2) & (edt == ndimage.maximum_filter(edt, size=3))
        out.append(2 * edt[ridge] - 1)
    return np.concatenate(out)


def generator_stats(n: int, seed: int) -> dict[str, Any]:
    imgs, params = generate_channels(n, seed=seed, return_params=True)
    frac = imgs.reshape(n, -1).mean(1)
    counts = np.bincount([len(p) for p in params], minlength=4)[1:]
    bodies = label_channels(imgs).reshape(n, -1).max(1)
    return {
        "n_images": n,
        "fraction": _q(frac),
        "fraction_in_target_range": float(np.mean((frac >= 0.10) & (frac <= 0.33))),
        "channels_per_image": {str(k + 1): int(c) for k, c in enumerate(counts)},
        "connected_bodies_per_image": _q(bodies),
        "width_px_drawn": _q(np.array([c["width_px"] for p in params for c in p])),
        "width_px_measured_ridge": _q(measured_widths(imgs[:200])),
        "swing_px_detrended_half_range": _q(np.array([c["swing_px"] for p in params for c in p])),
        "channels_with_cuts": float(np.mean([c["n_cuts"] > 0 for p in params for c in p])),
    }


def _curves(images: np.ndarray, lags: list[int]) -> dict[str, Any]:
    lab = label_channels(images)
    out: dict[str, Any] = {"proportion": channel_proportion(images)["mean"], "n": len(images)}
    for axis in "xy":
        g = indicator_variogram(images, axis)
        tau = connectivity_function(images, axis, labels=lab)
        sill = np.mean(g[-max(2, len(g) // 4) :])
        out[f"variogram_{axis}"] = {str(h): float(g[h - 1]) for h in lags}
        out[f"range95_{axis}_px"] = int(np.argmax(g >= 0.95 * sill) + 1)
        out[f"connectivity_{axis}"] = {str(h): float(tau[h - 1]) for h in lags}
    return out


def reference_comparison(refs: Path, n: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"note": "reference sets are E-W channels: compare generator y-curves with their x-curves"}
    for name, ds in (
        ("channels64", load_channels64(refs / REFERENCE_FILES["channels64"])),
        ("mps45", load_mps45(refs / REFERENCE_FILES["mps45"], limit=3000)),
    ):
        real = np.asarray(ds.images[:n])
        size = real.shape[1]
        gen = generate_channels(len(real), seed=seed, size=size)
        lags = [h for h in (1, 2, 4, 8, 16) if h <= size // 2]
        out[name] = {
            "size": size,
            "real": _curves(real, lags),
            "generator": _curves(gen, lags),
            "pattern_js_4x4_generator_vs_real": pattern_js(gen, real, 4),
            "pattern_js_4x4_generator_rot90_vs_real": pattern_js(gen.transpose(0, 2, 1), real, 4),
            "pattern_js_4x4_real_half_vs_half": pattern_js(real[: len(real) // 2], real[len(real) // 2 :], 4),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000, help="images for the statistics")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--refs", type=Path, default=None, help="folder with the real reference sets (shared/data/channels)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "channels_generator_stats",
        "machine": machine_info(),
        "targets": TARGETS,
        "images_per_s_one_core": {"128": speed(128, 1000), "64": speed(64, 1000)},
        "generator": generator_stats(a.n, a.seed),
    }
    if a.refs is not None:
        result["vs_real_sets"] = reference_comparison(a.refs, 1500, a.seed)
    emit(result, a.out)


if __name__ == "__main__":
    main()
