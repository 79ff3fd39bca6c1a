"""Realism metrics for binary facies images (N, H, W) in {0, 1} (1 = channel); numpy or torch input.

Two-point statistics: the indicator variogram γ(h) = ½ E[(I(u) − I(u+h))²] (Journel & Huijbregts 1978; Deutsch &
Journel, GSLIB 1998, §II.1) along x and y. Connectivity function τ(h) = P(u ↔ u+h | I(u)=I(u+h)=1), the probability
that two channel pixels a lag h apart belong to the same 4-connected body (Journel & Alabert 1990; Renard & Allard
2013, "Connectivity metrics for subsurface flow and transport", AWR 51). Multiple-point statistics: the k×k binary
pattern histogram (Boisvert, Pyrcz & Deutsch 2010, "Multiple-point statistics for training image selection") compared
with the Jensen–Shannon divergence (as in Tan, Tahmasebi & Caers 2014, Math. Geosci. 46, "Comparing training-image
based algorithms using an analysis of distance"), and per-image pattern histograms compared as sets with a Gaussian
kernel MMD (Gretton et al. 2012, JMLR 13, eq. 5, biased V-statistic so MMD(X, X) = 0). Memorisation: normalised
Hamming distance to the nearest training image. Continuity: the share of images in which one 4-connected channel
body touches both opposite edges along the flow direction (top to bottom for the procedural / LTrace channels), with
the number and mean size of bodies per image. Learned features: the Fréchet distance (Heusel et al. 2017) on the
embedding of a small facies classifier trained on the procedural generator's own labels (channel count × width class
× swing class; `genlab/assets/feature_nets/channels-64.*`, made by benchmarks/channels_feature_net.py), since
Inception features mean nothing for binary facies. `compare_facies` reports every metric with sample counts and the
real-vs-real floor (two disjoint random halves of the real set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from genlab.data.sources.channels import resize_binary
from genlab.errors import GenlabError
from genlab.metrics.features import ASSET_DIR, FeatureNet, load_feature_net
from genlab.metrics.image import feature_fid

ArrayLike = Any  # np.ndarray | torch.Tensor


def as_binary(images: ArrayLike) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) {0,1} numpy/torch → (N, H, W) bool numpy."""
    a = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"facies images must be (N, H, W) or (N, 1, H, W), got shape {a.shape}")
    return a > 0.5


def channel_proportion(images: ArrayLike, bins: int = 20) -> dict[str, Any]:
    """Per-image channel fraction: mean, std, min, max and a histogram on [0, 1] with `bins` bins."""
    frac = as_binary(images).reshape(len(images), -1).mean(1)
    hist, _ = np.histogram(frac, bins=bins, range=(0.0, 1.0))
    return {
        "mean": float(frac.mean()),
        "std": float(frac.std()),
        "min": float(frac.min()),
        "max": float(frac.max()),
        "hist": hist.tolist(),
        "n": len(frac),
    }


def _lags(size: int, max_lag: int | None) -> range:
    return range(1, (max_lag or size // 2) + 1)


def _lag_products(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Σ_{n,y,x} a[n,y,x]·b[n,y,x+h] for h = 1..max_lag (float arrays (N, H, W)), by zero-padded FFT along x."""
    w = a.shape[2]
    fa = np.fft.rfft(a, n=2 * w, axis=2)
    fb = np.fft.rfft(b, n=2 * w, axis=2)
    corr = np.fft.irfft((np.conj(fa) * fb).sum(axis=(0, 1)), n=2 * w)
    return corr[1 : max_lag + 1]


def indicator_variogram(images: ArrayLike, axis: str = "x", max_lag: int | None = None) -> np.ndarray:
    """γ(h) for h = 1..max_lag (default W/2 or H/2) along `axis` ('x' = columns, 'y' = rows), pooled over images.

    For an indicator, (I(u) − I(u+h))² = I(u) + I(u+h) − 2·I(u)·I(u+h): the cross term is an autocorrelation (FFT),
    the others are partial sums, so all lags cost one FFT.
    """
    a = as_binary(images)
    if axis == "y":
        a = a.transpose(0, 2, 1)
    n, h, w = a.shape
    lags = np.arange(1, (max_lag or w // 2) + 1)
    col = a.sum(axis=(0, 1)).astype(np.float64)  # (W,) channel count per column
    cum = np.concatenate([[0.0], np.cumsum(col)])
    head, tail = cum[w - lags], cum[w] - cum[lags]  # Σ I(u) over x < W−h, Σ I(u+h) over x ≥ h
    cross = _lag_products(a.astype(np.float64), a.astype(np.float64), len(lags))  # float64: exact after rounding
    pairs = n * h * (w - lags)
    return 0.5 * (head + tail - 2.0 * np.round(cross)) / pairs


def label_channels(images: ArrayLike) -> np.ndarray:
    """(N, H, W) labels of 4-connected channel bodies per image (0 = background); uint8 when they fit."""
    a = as_binary(images)
    out = np.zeros(a.shape, dtype=np.int32)
    for i in range(len(a)):
        out[i] = ndimage.label(a[i])[0]
    return out.astype(np.uint8) if out.max() < 256 else out


def connectivity_function(
    images: ArrayLike, axis: str = "x", max_lag: int | None = None, labels: np.ndarray | None = None
) -> np.ndarray:
    """τ(h) for h = 1..max_lag along `axis`: P(two channel pixels h apart are in the same body); NaN if no pairs."""
    lab = label_channels(images) if labels is None else labels
    if axis == "y":
        lab = lab.transpose(0, 2, 1)
    pos = (lab > 0).astype(np.float64)
    both = np.round(_lag_products(pos, pos, max_lag or lab.shape[2] // 2))
    same = np.array(
        [np.count_nonzero((lab[:, :, :-h] == lab[:, :, h:]) & (lab[:, :, h:] > 0)) for h in range(1, len(both) + 1)],
        dtype=np.float64,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(both > 0, same / np.maximum(both, 1), np.nan)


FLOW_AXES = ("x", "y")


def _edge_labels(lab: np.ndarray, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """The two opposite edge lines (N, L) of labels (N, H, W) that a body spanning along `axis` must touch:
    'y' = first and last row (top and bottom), 'x' = first and last column (left and right)."""
    return (lab[:, 0, :], lab[:, -1, :]) if axis == "y" else (lab[:, :, 0], lab[:, :, -1])


def spanning_images(labels: np.ndarray, axis: str = "y") -> np.ndarray:
    """(N,) bool: does any 4-connected channel body of each image touch both opposite edges along `axis`?

    labels: (N, H, W) body labels from `label_channels` (0 = background). Diagonal-only contact never joins two
    bodies (4-connectivity), so a channel broken into diagonal steps does not span.
    """
    if axis not in FLOW_AXES:
        raise ValueError(f"flow axis must be one of {FLOW_AXES}, got {axis!r}")
    first, last = _edge_labels(labels, axis)
    return np.array([np.intersect1d(a[a > 0], b[b > 0]).size > 0 for a, b in zip(first, last)], dtype=bool)


def channel_continuity(images: ArrayLike, flow_axis: str = "y", labels: np.ndarray | None = None) -> dict[str, Any]:
    """Continuity of channel bodies (4-connected components) per image, summarised over the batch.

    spanning_fraction: share of images with one body touching both edges along the flow direction `flow_axis`
    ('y' = top to bottom, the direction of the procedural generator and of the LTrace images; 'x' = left to right,
    the E–W Strebelle-type sets); spanning_fraction_across: the same across flow; bodies_per_image: body count
    per image (mean, std); body_px_mean: mean size of a body in pixels, pooled over all bodies of the batch;
    spanning_body_share: fraction of channel pixels that lie in spanning bodies (pooled).
    """
    lab = label_channels(images) if labels is None else labels
    across = "x" if flow_axis == "y" else "y"
    span, span_across = spanning_images(lab, flow_axis), spanning_images(lab, across)
    flat = lab.reshape(len(lab), -1).astype(np.int64)
    bodies = flat.max(1)
    sizes = [np.bincount(row, minlength=k + 1)[1:] for row, k in zip(flat, bodies)]
    pooled = np.concatenate(sizes) if len(sizes) else np.zeros(0)
    spanning_px = 0
    for s, row_first, row_last, k in zip(sizes, *_edge_labels(lab, flow_axis), bodies):
        ids = np.intersect1d(row_first[row_first > 0], row_last[row_last > 0])
        spanning_px += int(s[ids - 1].sum()) if k else 0
    total = int(pooled.sum())
    return {
        "flow_axis": flow_axis,
        "spanning_fraction": float(span.mean()) if len(span) else float("nan"),
        "spanning_fraction_across": float(span_across.mean()) if len(span) else float("nan"),
        "bodies_per_image": {"mean": float(bodies.mean()), "std": float(bodies.std())} if len(bodies) else {},
        "body_px_mean": float(pooled.mean()) if pooled.size else float("nan"),
        "spanning_body_share": spanning_px / total if total else float("nan"),
        "n": len(lab),
    }


def dominant_flow_axis(images: ArrayLike) -> str:
    """'x' or 'y': the axis along which more images have a spanning channel body ('y' on a tie)."""
    lab = label_channels(images)
    return "x" if spanning_images(lab, "x").sum() > spanning_images(lab, "y").sum() else "y"


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-6) -> float:
    """KL(p ‖ q) in nats of two histograms (normalised here; `eps` added to every bin so empty bins stay finite)."""
    p = np.asarray(p, float) + eps
    q = np.asarray(q, float) + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def proportion_kl(fake: ArrayLike, real: ArrayLike, bins: int = 20) -> dict[str, float]:
    """KL(real ‖ fake) of per-image channel-fraction histograms and of the pixel histogram (Bernoulli marginals)."""
    pf, pr = channel_proportion(fake, bins), channel_proportion(real, bins)
    return {
        "fraction_hist_kl": kl_divergence(pr["hist"], pf["hist"]),
        "pixel_hist_kl": kl_divergence([1 - pr["mean"], pr["mean"]], [1 - pf["mean"], pf["mean"]]),
    }


def pattern_codes(images: ArrayLike, k: int = 3) -> np.ndarray:
    """(N, H−k+1, W−k+1) uint16 codes of every k×k binary window (bit r·k+c = pixel (r, c) of the window)."""
    if not 1 <= k <= 4:
        raise ValueError(f"pattern size k must be 1..4 (2^(k·k) bins), got {k}")
    a = as_binary(images).astype(np.uint16)  # k ≤ 4 → 16 bits
    n, h, w = a.shape
    code = np.zeros((n, h - k + 1, w - k + 1), dtype=np.uint16)
    for r in range(k):
        for c in range(k):
            code |= np.left_shift(a[:, r : h - k + 1 + r, c : w - k + 1 + c], np.uint16(r * k + c))
    return code


def pattern_histograms(images: ArrayLike, k: int = 3) -> np.ndarray:
    """(N, 2^(k·k)) per-image normalised k×k pattern histograms (k ≤ 4)."""
    if not 1 <= k <= 4:
        raise ValueError(f"pattern size k must be 1..4 (2^(k·k) bins), got {k}")
    codes = pattern_codes(images, k)
    n, nb = len(codes), 2 ** (k * k)
    flat = (codes.reshape(n, -1).astype(np.int64) + nb * np.arange(n)[:, None]).reshape(-1)
    counts = np.bincount(flat, minlength=n * nb).reshape(n, nb).astype(np.float64)
    return counts / counts.sum(1, keepdims=True)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (0 = identical, 1 = disjoint support) of two histograms."""
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def pooled_pattern_histogram(images: ArrayLike, k: int = 3) -> np.ndarray:
    """(2^(k·k),) pattern counts pooled over all windows of all images (the multiple-point histogram)."""
    if not 1 <= k <= 4:
        raise ValueError(f"pattern size k must be 1..4 (2^(k·k) bins), got {k}")
    return np.bincount(pattern_codes(images, k).reshape(-1), minlength=2 ** (k * k)).astype(np.float64)


def pattern_js(fake: ArrayLike, real: ArrayLike, k: int = 4) -> float:
    """JS divergence (bits) between the pooled k×k pattern histograms of two sets (multiple-point histogram)."""
    return jensen_shannon(pooled_pattern_histogram(fake, k), pooled_pattern_histogram(real, k))


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> tuple[float, float]:
    """Biased Gaussian-kernel MMD² (Gretton et al. 2012, eq. 5) between row sets x (n, d), y (m, d).

    bandwidth: kernel σ; None → median pairwise distance of the pooled sample. Returns (MMD², σ).
    """
    z = torch.from_numpy(np.concatenate([x, y]).astype(np.float64))
    d2 = torch.cdist(z, z).pow(2)
    if bandwidth is None:
        off = d2[~torch.eye(len(z), dtype=torch.bool)]
        bandwidth = float(off.median().sqrt()) or 1.0
    kern = torch.exp(-d2 / (2 * bandwidth**2))
    n = len(x)
    val = kern[:n, :n].mean() + kern[n:, n:].mean() - 2 * kern[:n, n:].mean()
    return max(float(val), 0.0), bandwidth


def pattern_mmd(fake: ArrayLike, real: ArrayLike, k: int = 3, bandwidth: float | None = None) -> float:
    """MMD² between the sets of per-image k×k pattern histograms (captures per-image variability, not just means)."""
    return mmd2(pattern_histograms(fake, k), pattern_histograms(real, k), bandwidth)[0]


def classical_mds(dist: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a distance matrix (n, n) → coordinates (n, dims), as used for distance-based
    comparison of realization sets (Scheidt & Caers 2009, Math. Geosci. 41)."""
    n = len(dist)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (dist**2) @ j
    w, v = np.linalg.eigh(b)
    top = np.argsort(w)[::-1][:dims]
    return v[:, top] * np.sqrt(np.maximum(w[top], 0.0))


def nearest_hamming(fake: ArrayLike, train: ArrayLike, chunk: int = 512) -> np.ndarray:
    """(N_fake,) normalised Hamming distance of each fake image to its nearest training image (0 = a copy).

    Uses |a − b|₁ = |a| + |b| − 2 a·b for binary vectors, in chunks of `chunk` training images.
    """
    a = torch.from_numpy(as_binary(fake).reshape(len(fake), -1).astype(np.float32))
    t = as_binary(train).reshape(len(train), -1)
    best = torch.full((len(a),), float("inf"))
    na = a.sum(1, keepdim=True)
    for lo in range(0, len(t), chunk):
        b = torch.from_numpy(t[lo : lo + chunk].astype(np.float32))
        dist = na + b.sum(1)[None, :] - 2 * a @ b.T
        best = torch.minimum(best, dist.min(1).values)
    return (best / a.shape[1]).numpy()


def reconstruction_accuracy(pred: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """Pixel accuracy and IoU of the channel class between binary predictions and targets (pooled)."""
    p, t = as_binary(pred), as_binary(target)
    inter, union = np.logical_and(p, t).sum(), np.logical_or(p, t).sum()
    return {"pixel_accuracy": float((p == t).mean()), "channel_iou": float(inter / union) if union else 1.0}


def ambiguous_fraction(probs: ArrayLike, lo: float = 0.4, hi: float = 0.6) -> float:
    """Fraction of pixels whose channel probability (before thresholding) lies strictly in (lo, hi)."""
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    return float(np.mean((p > lo) & (p < hi)))


FACIES_FEATURE_NET = "channels-64"  # genlab/assets/feature_nets/channels-64.safetensors (+ .json sidecar)


def load_facies_feature_net(device: torch.device | str = "cpu", directory: str | Path | None = None) -> FeatureNet:
    """The shipped facies classifier (safetensors + JSON sidecar, sha256-checked; never unpickled)."""
    folder = Path(directory) if directory is not None else ASSET_DIR
    if not (folder / f"{FACIES_FEATURE_NET}.safetensors").is_file():
        raise GenlabError(f"{folder / FACIES_FEATURE_NET}.safetensors: facies feature net not found; create it with "
                          "`python benchmarks/channels_feature_net.py`")
    return load_feature_net(FACIES_FEATURE_NET, device=device, directory=folder)


def facies_features(net: FeatureNet, images: ArrayLike, batch_size: int = 500) -> torch.Tensor:
    """(N, D) float32 embedding of binary facies images (N, H, W) / (N, 1, H, W) by a facies FeatureNet.

    Images of another size than the net's `image_size` are first resized like `data.options.size` does
    (`resize_binary`: block majority, ties split to keep the channel fraction), so 128×128 realizations are measured
    by the 64×64 net at its own scale.
    """
    x = torch.from_numpy(as_binary(images)).to(torch.uint8)[:, None]
    if tuple(x.shape[-2:]) != (net.image_size, net.image_size):
        x = resize_binary(x, (net.image_size, net.image_size))
    return net.extract(x.float(), batch_size=batch_size)[0]  # float {0, 1} = the net's [0, 1] display convention


def feature_frechet(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared Fréchet distance between Gaussians fitted to feature sets x (n, D) and y (m, D)."""
    return feature_fid(x, y)


def _curve_rmse(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))) if ok.any() else float("nan")


def _curves(x: np.ndarray, max_lag: int | None, labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    lab = label_channels(x) if labels is None else labels
    return {
        "variogram_x": indicator_variogram(x, "x", max_lag),
        "variogram_y": indicator_variogram(x, "y", max_lag),
        "connectivity_x": connectivity_function(x, "x", max_lag, lab),
        "connectivity_y": connectivity_function(x, "y", max_lag, lab),
    }


def _versus(
    x: np.ndarray, ref: np.ndarray, ref_curves: dict[str, np.ndarray], max_lag: int | None, k: int,
    flow_axis: str = "y",
) -> dict[str, Any]:
    """Every set-to-set metric of `x` against the reference half `ref`."""
    lab = label_channels(x)
    curves = _curves(x, max_lag, lab)
    out: dict[str, Any] = {"proportion": channel_proportion(x), **proportion_kl(x, ref)}
    out["continuity"] = channel_continuity(x, flow_axis, lab)
    out.update({f"{name}_rmse": _curve_rmse(curves[name], ref_curves[name]) for name in curves})
    out["pattern_js_4x4"] = pattern_js(x, ref, 4)
    out[f"pattern_mmd2_{k}x{k}"] = pattern_mmd(x, ref, k)
    out["curves"] = {name: c.tolist() for name, c in curves.items()}
    return out


def compare_facies(
    fake: ArrayLike,
    real: ArrayLike,
    train: ArrayLike | None = None,
    seed: int = 0,
    max_lag: int | None = None,
    k: int = 3,
    max_images: int = 1000,
    feature_net: FeatureNet | None = None,
    flow_axis: str = "auto",
) -> dict[str, Any]:
    """Every facies metric of `fake` against held-out `real`, with the real-vs-real floor.

    The real set is split at random into disjoint halves A and B; `fake` (subsampled to |B|) and B are each compared
    with A, so "floor" says what a perfect generator would score with the same sample counts. With `train`, the
    nearest-training-image Hamming distance of fake and of B (held-out real) is reported (memorisation check).
    With `feature_net` (e.g. `load_facies_feature_net()`), "facies_frechet" is the Fréchet distance of each set's
    classifier features to those of A. `flow_axis` ('y' = top to bottom, the procedural / LTrace channels and the
    Strebelle crops; 'x' = left to right, the channels64 set) is the direction along which "continuity" counts
    images with a channel body spanning the image; "auto" takes the axis along which more images of the reference
    half A are spanned (y on a tie), reported as "flow_axis".
    """
    rng = np.random.default_rng(seed)
    f, r = as_binary(fake), as_binary(real)
    if f.shape[1:] != r.shape[1:]:
        raise GenlabError(f"compare_facies: fake images {f.shape[1:]} and real images {r.shape[1:]} differ in size")
    if len(r) < 4 or len(f) < 2:
        raise GenlabError(f"compare_facies: need >= 4 real and >= 2 fake images, got {len(r)} and {len(f)}")
    perm = rng.permutation(len(r))[: 2 * max_images]
    a, b = r[perm[: len(perm) // 2]], r[perm[len(perm) // 2 :]]
    n = min(len(f), len(b))
    f, b = f[rng.permutation(len(f))[:n]], b[:n]
    ref_curves = _curves(a, max_lag)
    if flow_axis == "auto":
        flow_axis = dominant_flow_axis(a)
    report = {
        "counts": {"fake": n, "real_reference": len(a), "real_floor": n},
        "fake": _versus(f, a, ref_curves, max_lag, k, flow_axis),
        "floor": _versus(b, a, ref_curves, max_lag, k, flow_axis),
        "reference_curves": {name: c.tolist() for name, c in ref_curves.items()},
        "flow_axis": flow_axis,
    }
    if feature_net is not None:
        ref = facies_features(feature_net, a)
        for name, x in (("fake", f), ("floor", b)):
            report[name]["facies_frechet"] = feature_frechet(facies_features(feature_net, x), ref)
        report["feature_net"] = {"name": FACIES_FEATURE_NET, **feature_net.config}
    if train is not None:
        t = as_binary(train)
        report["nearest_train_hamming"] = {
            name: {"mean": float(d.mean()), "min": float(d.min()), "p05": float(np.percentile(d, 5))}
            for name, d in (("fake", nearest_hamming(f, t)), ("floor", nearest_hamming(b, t)))
        }
        report["counts"]["train"] = len(t)
    return report
