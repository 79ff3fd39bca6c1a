"""Procedural meander generator vs. the numbers of the real LTrace set, and vs. real channel sets for orientation.

Claims checked (targets from shared/data/SOURCES.md §2a, read off 12 public figures of the real train_images.h5):
1–3 channels per image, channel fraction 0.10–0.33 (mean ≈ 0.22), widths ≈ 5–18 px constant along a channel,
lateral swing ≈ 15–40 px. Widths are reported twice: as drawn (generator parameters) and as measured on the images
(2·EDT − 1 on ridge pixels of the Euclidean distance transform, i.e. the local channel thickness). Speed is images/s
on one core (wall clock and CPU time). With --refs (the folder shared/data/channels) the generator, drawn at the reference image size, is
compared with the real 64×64 set (channels64) and MPS45 — those are E–W Strebelle-type channels, so compare the
y-curves of the generator with their x-curves (noted in the JSON); the numbers are for orientation, not a target.

Generator vs LTrace (section "vs_ltrace"): the 12 LTrace train_images shown in public notebook figures
(shared/data/channels/ltrace_meander_reference, SOURCES.md §2a) are digitised here at 128×128 (each viridis panel
found as a square block of coloured pixels, sampled at the centres of a 128×128 grid, channel where the colour's
green value ≥ 145, i.e. value ≥ 0.5 on viridis) and measured with the same per-image statistics as the procedural
generator at 128×128: channel proportion, 4-connected bodies per image (all, and those ≥ 12 px, the generator's
speck size), the share of images with a body spanning the image along flow (top to bottom) and across it, width
(local thickness 2·EDT − 1 on ridge pixels; and the horizontal run length, the apparent width across flow), and
the sinuosity of spanning bodies (centre-line length / straight distance between its ends; the centre line follows,
row by row, the run of the body nearest the previous row's centre). With only 12 real images, the generator's
spread is given for sets of 12: the 5–95 % range of the statistic's mean over 1,000 random 12-image subsets of the
generator's images (the sampling floor a 12-image comparison allows). 11 of the 12 panels were drawn smoothed at
1.43 screen px per image px, which closes 1-px gaps, so the generator is also measured through `figure_blur`.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/channels_generator_stats.py --n 2000 \
        --refs ../shared/data/channels --out benchmarks/results/channels_generator_stats.json \
        --md benchmarks/results/channels_generator_stats.md --knobs 1000

--knobs N measures N images for each generator style variant in KNOBS (which knob moves bodies and spanning).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from common import emit, machine_info, strict_json
from PIL import Image
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from genlab.data.sources.channels import ChannelStyle, generate_channels
from genlab.data.sources.facies_refs import REFERENCE_FILES, load_channels64, load_mps45
from genlab.metrics.facies import (
    channel_proportion,
    connectivity_function,
    indicator_variogram,
    label_channels,
    pattern_js,
    spanning_images,
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


def ridge_widths(img: np.ndarray) -> np.ndarray:
    """Local thickness 2·EDT − 1 at the ridge pixels (EDT equal to its 3×3 maximum and ≥ 2) of one image."""
    edt = ndimage.distance_transform_edt(img)
    ridge = (edt >= 2) & (edt == ndimage.maximum_filter(edt, size=3))
    return 2 * edt[ridge] - 1


def measured_widths(images: np.ndarray) -> np.ndarray:
    """`ridge_widths` of every image, pooled."""
    return np.concatenate([ridge_widths(img) for img in images])


LTRACE_FOLDER = "ltrace_meander_reference"
VIRIDIS_HALF_GREEN = 145  # green channel of viridis(0.5) = (33, 145, 140); viridis' green rises monotonically


def digitise_figure(path: Path, size: int = 128) -> list[np.ndarray]:
    """The imshow panels of one matplotlib figure (viridis colour map) as (size, size) uint8 {0, 1}, left to right.

    A panel is a square (aspect 0.9–1.1, ≥ 64 px) 8-connected block of coloured pixels (max − min of RGB > 40:
    viridis has chroma everywhere, white, black and grey text do not; the thin colour bar is not square). Each output
    cell takes the figure pixel at its centre.
    """
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    lab, _ = ndimage.label(rgb.max(2) - rgb.min(2) > 40, structure=np.ones((3, 3)))
    panels = []
    for sl in ndimage.find_objects(lab):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if min(h, w) < 64 or not 0.9 <= h / w <= 1.1:
            continue
        ys = (sl[0].start + (np.arange(size) + 0.5) * h / size).astype(int)
        xs = (sl[1].start + (np.arange(size) + 0.5) * w / size).astype(int)
        panels.append((sl[1].start, (rgb[ys[:, None], xs[None, :], 1] >= VIRIDIS_HALF_GREEN).astype(np.uint8)))
    return [img for _, img in sorted(panels, key=lambda t: t[0])]


def ltrace_figures(refs: Path, size: int = 128) -> tuple[np.ndarray, list[str]]:
    """All digitised LTrace figure panels (N, size, size) and their sources ("file#panel")."""
    images, names = [], []
    for f in sorted((refs / LTRACE_FOLDER).glob("*.png")):
        for i, img in enumerate(digitise_figure(f, size)):
            images.append(img)
            names.append(f"{f.name}#{i}")
    if not images:
        raise SystemExit(f"{refs / LTRACE_FOLDER}: no figure panels found; expected the PNG figures of SOURCES.md §2a")
    return np.stack(images), names


def centreline_sinuosity(body: np.ndarray) -> float:
    """Centre-line length / straight end-to-end distance of a body (H, W) bool that spans the rows top to bottom.

    Row by row, the centre is that of the body's run (horizontal stretch) nearest the previous row's centre (the
    first row starts at its first run), so a loop or a touching second channel does not pull the line sideways.
    """
    centres, prev = [], None
    for row in body:
        xs = np.flatnonzero(row)
        runs = np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1)
        mids = np.array([r.mean() for r in runs])
        c = mids[0] if prev is None else mids[np.argmin(np.abs(mids - prev))]
        centres.append(c)
        prev = c
    x = np.asarray(centres)
    return float(np.hypot(1.0, np.diff(x)).sum() / np.hypot(len(x) - 1, x[-1] - x[0]))


def geodesic_tortuosity(body: np.ndarray) -> float:
    """Shortest path inside a body (H, W) bool from its top row to its bottom row (8-neighbour steps of 1 or √2
    px, Dijkstra) divided by the straight top-to-bottom distance H − 1: how much longer than straight the shortest
    way along the channel is. Unlike the centre line it cuts the inside of bends, so it is ≤ the centre-line
    sinuosity for wide channels, but crossings and touching channels cannot make it jump."""
    h, w = body.shape
    idx = np.full(body.shape, -1, dtype=np.int64)
    idx[body] = np.arange(int(body.sum()))
    rows, cols, weights = [], [], []
    for dy, dx, wt in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, np.sqrt(2)), (1, -1, np.sqrt(2))):
        a = idx[: h - dy, max(0, -dx) : w - max(0, dx)]
        b = idx[dy:, max(0, dx) : w - max(0, -dx) if dx < 0 else w]
        ok = (a >= 0) & (b >= 0)
        rows.append(a[ok])
        cols.append(b[ok])
        weights.append(np.full(int(ok.sum()), wt))
    n = int(body.sum())
    graph = csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    dist = dijkstra(graph, directed=False, indices=idx[0][idx[0] >= 0], min_only=True)
    return float(dist[idx[-1][idx[-1] >= 0]].min() / (h - 1))


def per_image_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """(N,) arrays of each image's statistics (flow = top to bottom; NaN where an image has nothing to measure)."""
    lab = label_channels(images)
    stats: dict[str, list[float]] = {k: [] for k in ("proportion", "bodies", "bodies_ge12px", "width_ridge_px",
                                                       "run_across_px", "sinuosity", "tortuosity")}
    for img, lb in zip(images, lab):
        sizes = np.bincount(lb.ravel())[1:]
        spanning = np.intersect1d(lb[0][lb[0] > 0], lb[-1][lb[-1] > 0])  # bodies touching top and bottom
        w = ridge_widths(img)
        padded = np.pad(img.astype(np.int8), ((0, 0), (1, 1)))
        edges = np.diff(padded, axis=1)
        runs = np.flatnonzero(edges.ravel() == -1) - np.flatnonzero(edges.ravel() == 1)  # run lengths along x
        stats["proportion"].append(float(img.mean()))
        stats["bodies"].append(len(sizes))
        stats["bodies_ge12px"].append(int(np.sum(sizes >= 12)))
        stats["width_ridge_px"].append(float(w.mean()) if w.size else float("nan"))
        stats["run_across_px"].append(float(runs.mean()) if runs.size else float("nan"))
        sin = [centreline_sinuosity(lb == k) for k in spanning]
        stats["sinuosity"].append(float(np.mean(sin)) if sin else float("nan"))
        tort = [geodesic_tortuosity(lb == k) for k in spanning]
        stats["tortuosity"].append(float(np.mean(tort)) if tort else float("nan"))
    out = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    out["spans_flow"] = spanning_images(lab, "y").astype(np.float64)
    out["spans_across"] = spanning_images(lab, "x").astype(np.float64)
    return out


def subset_spread(values: np.ndarray, k: int, rng: np.random.Generator, draws: int = 1000) -> list[float]:
    """5 and 95 % points of the (NaN-ignoring) mean of `k` random images of `values` over `draws` subsets."""
    means = [np.nanmean(values[rng.choice(len(values), k, replace=False)]) for _ in range(draws)]
    return [float(np.nanpercentile(means, 5)), float(np.nanpercentile(means, 95))]


def figure_blur(images: np.ndarray) -> np.ndarray:
    """Images as a smoothed figure shows them: separable 3-tap [¼, ½, ¼] filter, then value ≥ 0.5 = channel.

    11 of the 12 LTrace panels come from figures drawn at 1.43 screen px per image px with smoothing (they hold
    intermediate viridis colours; the 3.6× panel holds two colours only), which closes 1-px background gaps such as
    the generator's (and LTrace's) crossing gaps; this filter is a proxy for that rendering (a 1-px gap between
    channel pixels becomes ½ and is read as channel)."""
    k = np.array([0.25, 0.5, 0.25])
    x = ndimage.convolve1d(images.astype(np.float64), k, axis=1, mode="nearest")
    return (ndimage.convolve1d(x, k, axis=2, mode="nearest") >= 0.5).astype(np.uint8)


def vs_ltrace(refs: Path, n: int, seed: int) -> dict[str, Any]:
    """Per-image statistics of the digitised LTrace figures and of `n` generator images at 128×128, as drawn and as
    seen through `figure_blur`."""
    real, names = ltrace_figures(refs)
    gen = generate_channels(n, seed=seed, size=128)
    t0 = time.process_time()
    r = per_image_stats(real)
    sets = {"generator": per_image_stats(gen), "generator_blurred": per_image_stats(figure_blur(gen))}
    rng = np.random.default_rng(seed)
    rows = {}
    for key in r:
        rows[key] = {"ltrace_mean": float(np.nanmean(r[key])), "ltrace_per_image": [float(v) for v in r[key]]}
        for name, g in sets.items():
            rows[key].update({
                f"{name}_mean": float(np.nanmean(g[key])), f"{name}_std": float(np.nanstd(g[key])),
                f"{name}_mean_of_{len(real)}_p05_p95": subset_spread(g[key], len(real), rng),
            })
    return {"n_ltrace": len(real), "ltrace_panels": names, "n_generator": n, "size": 128, "flow_axis": "y",
            "stats": rows, "stats_cpu_s": time.process_time() - t0}


KNOBS = {  # ChannelStyle fields changed from the default, per variant
    "default": {},
    "cut_prob 0.25 -> 0 (no cuts)": {"cut_prob": 0.0},
    "gap_px 1 -> 0 (no crossing gap)": {"gap_px": 0.0},
    "no cuts, no crossing gap": {"cut_prob": 0.0, "gap_px": 0.0},
}


def knob_effects(n: int, seed: int) -> dict[str, Any]:
    """Mean per-image statistics of `n` generator images at 128×128 for each style variant of KNOBS."""
    out: dict[str, Any] = {}
    for name, change in KNOBS.items():
        s = per_image_stats(generate_channels(n, seed=seed, size=128, style=replace(ChannelStyle(), **change)))
        out[name] = {"style_change": change, **{k: float(np.nanmean(v)) for k, v in s.items()}}
    return {"n_per_variant": n, "variants": out}


STAT_LABELS = {
    "proportion": "channel proportion",
    "bodies": "4-connected bodies per image",
    "bodies_ge12px": "bodies ≥ 12 px per image",
    "spans_flow": "images with a body spanning top to bottom (along flow)",
    "spans_across": "images with a body spanning left to right (across flow)",
    "width_ridge_px": "width, 2·EDT − 1 on ridge pixels (px)",
    "run_across_px": "horizontal run length, apparent width across flow (px)",
    "sinuosity": "sinuosity of spanning bodies (centre line / straight)",
    "tortuosity": "tortuosity of spanning bodies (shortest inside path / height)",
}


def markdown(v: dict[str, Any], command: str) -> str:
    k = v["n_ltrace"]
    head = (f"| statistic (128×128, flow top to bottom) | LTrace figures (n={k}) | generator mean (n={v['n_generator']})"
            f" | generator, mean of {k}: 5–95 % | LTrace inside? | generator blurred as a figure: mean | mean of {k}:"
            " 5–95 % | LTrace inside? |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for key, label in STAT_LABELS.items():
        s = v["stats"][key]
        cells = [label, f"{s['ltrace_mean']:.3f}"]
        for name in ("generator", "generator_blurred"):
            lo, hi = s[f"{name}_mean_of_{k}_p05_p95"]
            inside = "yes" if lo <= s["ltrace_mean"] <= hi else "no"
            cells += [f"{s[f'{name}_mean']:.3f}", f"{lo:.3f}–{hi:.3f}", inside]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n`{command}`\n"


def knob_markdown(k: dict[str, Any]) -> str:
    keys = ("bodies", "spans_flow", "proportion", "width_ridge_px", "tortuosity")
    lines = [f"| style variant (n={k['n_per_variant']} each) | " + " | ".join(STAT_LABELS[c] for c in keys) + " |",
             "|---|" + "---|" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{v[c]:.3f}" for c in keys) + " |" for name, v in k["variants"].items()]
    return "\n" + "\n".join(lines) + "\n"


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
    p.add_argument("--knobs", type=int, default=0, help="also measure this many images per generator style variant")
    p.add_argument("--md", default=None, help="also write the generator-vs-LTrace table (markdown) here")
    a = p.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "channels_generator_stats",
        "machine": machine_info(),
        "targets": TARGETS,
        "images_per_s_one_core": {"128": speed(128, 1000), "64": speed(64, 1000)},
        "generator": generator_stats(a.n, a.seed),
    }
    if a.refs is not None:
        result["vs_ltrace"] = vs_ltrace(a.refs, a.n, a.seed)
        result["vs_real_sets"] = reference_comparison(a.refs, 1500, a.seed)
    if a.knobs:
        result["knob_effects"] = knob_effects(a.knobs, a.seed)
    command = "python benchmarks/channels_generator_stats.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result["command"] = command
    result["process_cpu_s"] = time.process_time()
    emit(strict_json(result), a.out)
    if a.md and a.refs is not None:
        text = markdown(result["vs_ltrace"], command)
        Path(a.md).write_text(text + (knob_markdown(result["knob_effects"]) if a.knobs else ""))


if __name__ == "__main__":
    main()
