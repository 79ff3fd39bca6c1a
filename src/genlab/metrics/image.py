"""Image quality metrics on domain-classifier features: FID, KID, IS, improved precision/recall, class balance
and a memorisation check, plus `evaluate_images` which reports them beside the real-vs-real floor.

Every metric is a `torchmetrics.Metric` (update / compute, DDP-syncable states) that consumes decoded,
display-space images: uint8 (N, C, H, W) in 0..255. ``update`` takes images (features are extracted with the
metric's feature net) or, to share one extraction among several metrics, precomputed ``features``/``logits``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore as TorchmetricsInceptionScore
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError
from genlab.metrics.features import FeatureNet

ImagesLike = Tensor | np.ndarray | ImageDataset
ArrayLike1d = Tensor | np.ndarray | list[int]


# ---------------------------------------------------------------------------------------------- inputs

def as_uint8_images(images: ImagesLike, what: str = "images", channels: int | None = None) -> Tensor:
    """Validate and convert images to a uint8 tensor (N, C, H, W); `what` names the argument in errors."""
    if isinstance(images, ImageDataset):
        images = images.get_batch(np.arange(len(images)))[0]
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        desc = f"{type(images).__name__} {getattr(images, 'dtype', '')} {tuple(getattr(images, 'shape', ()))}"
        raise GenlabError(f"{what}: expected uint8 images (N, C, H, W) in 0..255, got {desc.strip()}")
    if channels is not None and images.shape[1] != channels:
        raise GenlabError(f"{what}: the feature net expects {channels} channel(s), got shape {tuple(images.shape)}")
    return images


def extract(net: FeatureNet, images: ImagesLike, what: str = "images", batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Features (N, D) and logits (N, K), float32 on the CPU, of validated uint8 images."""
    return net.extract(as_uint8_images(images, what, net.in_channels), batch_size=batch_size)


class _FeatureMetric(Metric):
    """Shared plumbing: a cached feature net and ``_features(images | features, logits)``."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, net: FeatureNet | None = None, batch_size: int = 500, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.net, self.batch_size = net, batch_size

    def _features(self, images: ImagesLike | None, features: Tensor | None, logits: Tensor | None
                  ) -> tuple[Tensor | None, Tensor | None]:
        if images is None:
            return features, logits
        if self.net is None:
            raise GenlabError(f"{type(self).__name__}: pass a feature net to measure images, or pass features=")
        return extract(self.net, images, batch_size=self.batch_size)


# ---------------------------------------------------------------------------------------------- FID, KID, IS
# torchmetrics computes these three (its FrechetInceptionDistance, KernelInceptionDistance and InceptionScore) on
# the project's feature net: `_Extractor` is what torchmetrics calls as its "inception" network. Measured against
# the hand-written versions they replace, on fixed 128-D features (n = 64 / 500 / 2000): FID equal to 2e-8
# relative; KID equal when a subset is the whole set, and within one standard error on random subsets (the draws
# differ); IS within 0.2 % at n = 2000 (torchmetrics shuffles before splitting; with tiny splits the split
# assignment moves IS by a few %). Differences to note: KID's std is the population std (unbiased=False).

class _Extractor(nn.Module):
    """The feature net as torchmetrics wants it: ``num_features`` and forward(batch) → (B, D) float64.

    A batch of uint8 images (B, C, H, W) goes through the net (its features, or its logits for IS); a 2-D batch
    is features/logits computed already (shared by several metrics) and passes through."""

    def __init__(self, net: FeatureNet | None, num_features: int, output: str, batch_size: int = 500) -> None:
        super().__init__()
        self.net, self.num_features, self.output, self.batch_size = net, int(num_features), output, batch_size

    def forward(self, batch: Tensor) -> Tensor:
        if batch.ndim != 2:
            if self.net is None:
                raise GenlabError("pass a feature net to measure images, or pass features=/logits=")
            features, logits = extract(self.net, batch, batch_size=self.batch_size)
            batch = features if self.output == "features" else logits
        if not self.num_features:  # KID and IS need no width up front: take the first batch's
            self.num_features = int(batch.shape[1])
        if batch.shape[1] != self.num_features:
            raise GenlabError(f"expected {self.output} of width {self.num_features}, got shape {tuple(batch.shape)}")
        return batch.detach().to(torch.float64)


def _batch(images: ImagesLike | None, given: Tensor | None, what: str) -> Tensor:
    """What to hand torchmetrics' update: validated uint8 images, or the precomputed features/logits."""
    if images is not None:
        return as_uint8_images(images)
    if given is None:
        raise GenlabError(f"pass images or {what}=")
    return given


def _dim(net: FeatureNet | None, given: int | None, attribute: str, metric: str) -> int:
    dim = given or (getattr(net, attribute) if net is not None else None)
    if dim is None:
        raise GenlabError(f"{metric}: give a feature net or feature_dim")
    return int(dim)


def _check_counts(metric: str, real: int, fake: int, need: int = 2) -> None:
    if real < need or fake < need:
        raise GenlabError(f"{metric}: need at least {need} real and {need} fake images, got {real} and {fake}")


class FID(FrechetInceptionDistance):
    """Fréchet distance (Heusel et al. 2017, eq. 6) between Gaussians fitted to real and fake features:
    torchmetrics' FrechetInceptionDistance on the project's feature net (float64 running sums)."""

    def __init__(self, net: FeatureNet | None = None, feature_dim: int | None = None, batch_size: int = 500,
                 **kwargs: Any) -> None:
        extractor = _Extractor(net, _dim(net, feature_dim, "num_features", "FID"), "features", batch_size)
        super().__init__(feature=extractor, normalize=False, **kwargs)

    def update(self, images: ImagesLike | None = None, real: bool = False, *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        super().update(_batch(images, features, "features"), real=real)

    def compute(self) -> Tensor:
        _check_counts("FID", int(self.real_features_num_samples), int(self.fake_features_num_samples))
        return super().compute().to(torch.float64)


class KID(KernelInceptionDistance):
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased polynomial-kernel MMD² averaged over `subsets`
    random subsets of `subset_size` (capped by the smaller set), seeded by `seed`; ``compute`` → (mean, std).
    torchmetrics' KernelInceptionDistance on the project's feature net."""

    def __init__(self, net: FeatureNet | None = None, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                 coef: float = 1.0, seed: int = 0, feature_dim: int | None = None, batch_size: int = 500,
                 **kwargs: Any) -> None:
        dim = feature_dim or (net.num_features if net is not None else 0)
        with _features_kept_on_purpose():
            super().__init__(feature=_Extractor(net, dim, "features", batch_size), subsets=subsets,
                             subset_size=subset_size, degree=degree, coef=coef, normalize=False, **kwargs)
        self.requested_subset_size, self.seed = subset_size, seed

    def update(self, images: ImagesLike | None = None, real: bool = False, *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        super().update(_batch(images, features, "features"), real=real)

    def compute(self) -> tuple[Tensor, Tensor]:
        n_real = sum(int(f.shape[0]) for f in _as_list(self.real_features))
        n_fake = sum(int(f.shape[0]) for f in _as_list(self.fake_features))
        _check_counts("KID", n_real, n_fake)
        self.subset_size = min(self.requested_subset_size, n_real, n_fake)
        with torch.random.fork_rng(devices=[]):  # seeded subsets, the caller's RNG untouched
            torch.manual_seed(self.seed)
            mean, std = super().compute()
        return mean.to(torch.float64), std.to(torch.float64)


class InceptionScore(TorchmetricsInceptionScore):
    """Inception Score (Salimans et al. 2016) on the domain classifier's logits of fake images:
    IS = exp(E_x KL(p(y|x) || p(y))) per split; ``compute`` → (mean, std) over `splits`. Range [1, K].
    torchmetrics' InceptionScore (it shuffles before splitting: seeded by `seed`)."""

    def __init__(self, net: FeatureNet | None = None, splits: int = 10, seed: int = 0, num_classes: int | None = None,
                 batch_size: int = 500, **kwargs: Any) -> None:
        width = num_classes or getattr(net, "num_classes", 0)
        with _features_kept_on_purpose():
            super().__init__(feature=_Extractor(net, width, "logits", batch_size), splits=splits, normalize=False,
                             **kwargs)
        self.seed = seed

    def update(self, images: ImagesLike | None = None, real: bool = False, *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        super().update(_batch(images, logits, "logits"))

    def compute(self) -> tuple[Tensor, Tensor]:
        count = sum(int(f.shape[0]) for f in _as_list(self.features))
        if count < 1:
            raise GenlabError("InceptionScore: no fake images were given")
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "std\\(\\): degrees of freedom")  # one split: std is 0, not NaN
            torch.manual_seed(self.seed)
            mean, std = super().compute()
        return mean, std if torch.isfinite(std) else torch.zeros((), dtype=mean.dtype)


def feature_fid(x: Tensor, y: Tensor) -> float:
    """FID between two feature sets x (n, D) and y (m, D) computed already (n, m ≥ 2)."""
    fid = FID(feature_dim=x.shape[1])
    fid.update(features=x, real=True)
    fid.update(features=y)
    return float(fid.compute())


@contextmanager
def _features_kept_on_purpose() -> Iterator[None]:
    """KID and IS keep every feature (torchmetrics warns about it at construction); evaluation sizes are bounded."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Metric `.*` will save all extracted features")
        yield


def _as_list(state: Tensor | list[Tensor]) -> list[Tensor]:
    """A torchmetrics list state (a list before sync, one tensor after)."""
    return [state] if isinstance(state, Tensor) else list(state)


# ---------------------------------------------------------------------------------------------- precision / recall

def _pairwise_chunks(queries: Tensor, refs: Tensor, chunk: int = 512):
    """Yield (start, distances (c, M)) of Euclidean distances from query chunks to all refs."""
    for start in range(0, queries.shape[0], chunk):
        yield start, torch.cdist(queries[start:start + chunk], refs)


def knn_radii(features: Tensor, k: int = 3) -> Tensor:
    """Distance (N,) from each row to its k-th nearest other row (the k-NN manifold radius)."""
    if features.shape[0] <= k:
        raise GenlabError(f"precision/recall: need more than k={k} samples per set, got {features.shape[0]}")
    radii = torch.empty(features.shape[0], dtype=features.dtype)
    for start, dist in _pairwise_chunks(features, features):
        radii[start:start + dist.shape[0]] = dist.topk(k + 1, dim=1, largest=False).values[:, k]  # [:, 0] is self
    return radii


def manifold_coverage(queries: Tensor, refs: Tensor, ref_radii: Tensor) -> float:
    """Fraction of queries inside at least one ball B(ref_j, radius_j) (Kynkäänniemi et al. 2019, eq. 1–2)."""
    inside = torch.zeros(queries.shape[0], dtype=torch.bool)
    for start, dist in _pairwise_chunks(queries, refs):
        inside[start:start + dist.shape[0]] = (dist <= ref_radii[None, :]).any(dim=1)
    return float(inside.float().mean())


class PrecisionRecall(_FeatureMetric):
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds (k=3 by default).

    precision = share of fakes inside the real manifold; recall = share of reals inside the fake manifold.
    Both depend on the set sizes: compare runs at equal counts. ``compute`` → (precision, recall) in [0, 1].
    """

    higher_is_better = True

    def __init__(self, net: FeatureNet | None = None, k: int = 3, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)
        self.k = k
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, images: ImagesLike | None = None, real: bool = False, *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        f = self._features(images, features, logits)[0].float().cpu()
        (self.real_features if real else self.fake_features).append(f)

    def compute(self) -> tuple[Tensor, Tensor]:
        real, fake = dim_zero_cat(self.real_features).cpu(), dim_zero_cat(self.fake_features).cpu()
        precision = manifold_coverage(fake, real, knn_radii(real, self.k))
        recall = manifold_coverage(real, fake, knn_radii(fake, self.k))
        return torch.tensor(precision), torch.tensor(recall)


# ---------------------------------------------------------------------------------------------- class balance

class ClassBalance(_FeatureMetric):
    """Histogram of the classifier's argmax over fake images versus the uniform distribution.

    ``compute`` → {"histogram": (K,) frequencies, "kl_uniform": KL(hist || U) in nats (0 = balanced, log K = one
    class only), "max_deviation": max_c |hist_c - 1/K|}.
    """

    def __init__(self, net: FeatureNet | None = None, num_classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)
        self.num_classes = num_classes or (net.num_classes if net is not None else None)
        if not self.num_classes:
            raise GenlabError("ClassBalance: give a feature net or num_classes")
        self.add_state("counts", torch.zeros(self.num_classes, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, images: ImagesLike | None = None, real: bool = False, *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        predicted = self._features(images, features, logits)[1].argmax(dim=1)
        self.counts += torch.bincount(predicted.cpu(), minlength=self.num_classes).to(self.counts)

    def compute(self) -> dict[str, Any]:
        hist = self.counts / self.counts.sum().clamp_min(1)
        uniform = 1.0 / self.num_classes
        nonzero = hist[hist > 0]
        kl = float((nonzero * (nonzero / uniform).log()).sum())
        return {"histogram": hist.tolist(), "kl_uniform": kl, "max_deviation": float((hist - uniform).abs().max())}


# ---------------------------------------------------------------------------------------------- memorisation

def nearest_distances(queries: Tensor, refs: Tensor) -> Tensor:
    """Distance (N,) from each query row to its nearest ref row.

    The neighbour is found with `torch.cdist` (matrix-product form, whose cancellation leaves ~1e-3 instead of 0
    for identical rows); its distance is then recomputed directly, so a copy is at exactly 0.
    """
    nearest = torch.empty(queries.shape[0], dtype=torch.long)
    for start, dist in _pairwise_chunks(queries, refs, chunk=256):
        nearest[start:start + dist.shape[0]] = dist.argmin(dim=1)
    return (queries - refs[nearest]).norm(dim=1)


def distance_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator for non-negative distances, honest at zero: x/0 is inf (x > 0) and 0/0 is NaN
    (undefined), instead of a huge number from an epsilon-clamped denominator."""
    if denominator > 0:
        return numerator / denominator
    return float("nan") if numerator == 0 else float("inf")


class Memorisation(_FeatureMetric):
    """Nearest-training-neighbour distances of fakes compared with those of held-out test images.

    A model that copies its training set puts fakes much closer to training images than new real images are.
    ``compute`` → {"fake_to_train_median", "test_to_train_median",
    "median_ratio": fake/test median (≈1 healthy, ≪1 copying),
    "fake_below_test_p1": share of fakes at or below the 1st percentile of test→train distances (≈0.01 healthy),
    "fake_exact_copies": share of fakes at distance 0 from a training image (feature-identical, e.g. pixel copies)}.

    Zero distances are reported as they are, not clamped: when the test median is 0 (half the test images have a
    feature-identical training image — duplicates across the splits), "median_ratio" is inf if the fakes' median
    is positive and NaN (undefined) if it is 0 too; look at "fake_exact_copies" then. NaN/inf serialise as the
    JSON extensions NaN/Infinity (Python's json reads them back).
    """

    def __init__(self, net: FeatureNet | None = None, **kwargs: Any) -> None:
        super().__init__(net, **kwargs)
        for split in ("fake", "test", "train"):
            self.add_state(f"{split}_features", [], dist_reduce_fx="cat")

    def update(self, images: ImagesLike | None = None, split: str = "fake", *, features: Tensor | None = None,
               logits: Tensor | None = None) -> None:
        if split not in ("fake", "test", "train"):
            raise GenlabError(f"Memorisation.update: split must be fake, test or train, got '{split}'")
        getattr(self, f"{split}_features").append(self._features(images, features, logits)[0].float().cpu())

    def compute(self) -> dict[str, float]:
        train = dim_zero_cat(self.train_features).cpu()
        fake_d = nearest_distances(dim_zero_cat(self.fake_features).cpu(), train)
        test_d = nearest_distances(dim_zero_cat(self.test_features).cpu(), train)
        fake_median, test_median = float(fake_d.median()), float(test_d.median())
        threshold = torch.quantile(test_d, 0.01)
        return {"fake_to_train_median": fake_median, "test_to_train_median": test_median,
                "median_ratio": distance_ratio(fake_median, test_median),
                "fake_below_test_p1": float((fake_d <= threshold).float().mean()),
                "fake_exact_copies": float((fake_d == 0).float().mean())}


# ---------------------------------------------------------------------------------------------- evaluation

def floor_indices(num_train: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` distinct training indices drawn uniformly at random (sorted, for HDF5-friendly reads).

    Random, never a prefix/suffix: the MNIST files are ordered by writer groups, so the last 1000 training images
    score a much worse FID against the test set than a random 1000 do.
    """
    if not 0 < count <= num_train:
        raise GenlabError(f"floor: need 1..{num_train} training images, asked for {count}")
    return np.sort(np.random.default_rng(seed).choice(num_train, size=count, replace=False))


def _distribution_metrics(fake_f: Tensor, real_f: Tensor, seed: int, kid_subsets: int, kid_subset_size: int
                          ) -> dict[str, Any]:
    """FID on all samples and KID on random subsets, fake features (N, D) vs real (M, D)."""
    fid = FID(feature_dim=fake_f.shape[1])
    kid = KID(subsets=kid_subsets, subset_size=kid_subset_size, seed=seed, feature_dim=fake_f.shape[1])
    for metric in (fid, kid):
        metric.update(features=real_f, real=True)
        metric.update(features=fake_f, real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": min(kid_subset_size, fake_f.shape[0], real_f.shape[0])}


def _manifold_metrics(fake_f: Tensor, real_f: Tensor, seed: int, k: int) -> dict[str, Any]:
    """Precision/recall against a seeded random real subset of the fake count (k-NN manifolds depend on set size;
    Kynkäänniemi et al. 2019 compare equal counts)."""
    pr = PrecisionRecall(k=k)
    subset = torch.randperm(real_f.shape[0], generator=torch.Generator().manual_seed(seed))[:fake_f.shape[0]]
    pr.update(features=real_f[subset], real=True)
    pr.update(features=fake_f, real=False)
    precision, recall = pr.compute()
    return {"precision": float(precision), "recall": float(recall), "num_real_pr": len(subset)}


def _classifier_metrics(fake_l: Tensor, is_splits: int, class_balance: bool = True) -> dict[str, Any]:
    """Inception Score and (for a domain classifier, `class_balance`) class balance from the logits (N, K) of the
    fakes."""
    inception = InceptionScore(splits=is_splits, num_classes=fake_l.shape[1])
    inception.update(logits=fake_l)
    is_mean, is_std = inception.compute()
    out = {"is_mean": float(is_mean), "is_std": float(is_std)}
    if class_balance:
        balance = ClassBalance(num_classes=fake_l.shape[1])
        balance.update(logits=fake_l)
        out.update({f"class_{key}": value for key, value in balance.compute().items()})
    return out


def compare_features(fake: tuple[Tensor, Tensor], real: tuple[Tensor, Tensor], *, seed: int = 0,
                     kid_subsets: int = 100, kid_subset_size: int = 1000, is_splits: int = 10, k: int = 3,
                     class_balance: bool = True) -> dict[str, Any]:
    """Every set-level metric of fake (features (N, D), logits (N, K)) against real (features, logits): FID (all
    real samples), KID, precision/recall, and the fakes' Inception Score and (when the logits are a domain
    classifier's, `class_balance`) class balance, with sample counts."""
    (fake_f, fake_l), real_f = fake, real[0]
    return {**_distribution_metrics(fake_f, real_f, seed, kid_subsets, kid_subset_size),
            **_manifold_metrics(fake_f, real_f, seed, k), **_classifier_metrics(fake_l, is_splits, class_balance),
            "num_fake": int(fake_f.shape[0]), "num_real": int(real_f.shape[0])}


def _check_labels(labels: ArrayLike1d, count: int) -> ArrayLike1d:
    if len(labels) != count:
        raise GenlabError(f"fake_labels: expected one label per fake image ({count}), got {len(labels)}")
    return labels


def label_accuracy(logits: Tensor, labels: ArrayLike1d) -> float:
    """Fraction of images (logits (N, K) of the domain classifier) classified as the class in `labels` (N,): for a
    conditional generator, how often a sample is of the class it was asked for."""
    target = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=logits.device)
    return float((logits.argmax(1) == target).float().mean())


FLOOR_DRAWS = 25  # the floor FID is the median of this many draws: ~10 % spread at n = 1000 (floor_variance.py)
MAX_FLOOR_DRAWS = 1000


def check_floor_draws(draws: Any) -> int:
    """`draws` as an int in 1..MAX_FLOOR_DRAWS; a one-line GenlabError naming the value otherwise."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or not 1 <= draws <= MAX_FLOOR_DRAWS:
        raise GenlabError(f"floor draws={draws!r}: expected an integer number of random training draws in "
                          f"1..{MAX_FLOOR_DRAWS} (default {FLOOR_DRAWS}; the floor FID is their median)")
    return int(draws)


def floor_draw_seeds(seed: int, draws: int) -> list[int]:
    """The seeds of the floor's draws: seed, seed + 1, ..., seed + draws - 1 (draw 0 is the single-draw floor
    genlab reported before the median, so its other metrics and old JSONs stay comparable)."""
    return [seed + i for i in range(check_floor_draws(draws))]


def floor_fids(train_features: Tensor, reference_features: Tensor, n: int, seeds: list[int]) -> list[float]:
    """The FID of each floor draw alone: n training features drawn with `floor_indices(..., seed)` for each seed
    against the reference features (what `real_floor`'s "fid_draws" holds; benchmarks/floor_variance.py)."""
    return [feature_fid(reference_features, train_features[torch.from_numpy(floor_indices(len(train_features), n, s))])
            for s in seeds]


def real_floor(train: tuple[Tensor, Tensor], reference: tuple[Tensor, Tensor], n: int, seed: int = 0,
               train_labels: ArrayLike1d | None = None, *, draws: int = FLOOR_DRAWS, **kw: Any) -> dict[str, Any]:
    """The real-vs-real floor: the one definition genlab prints beside every FID (evaluate, the CLI, benchmarks).

    n training images drawn uniformly at random (`floor_indices`) measured with `compare_features` against the
    same reference set, with the same settings, as the n generated images: what a perfect generator would score
    at this n. One draw is too noisy to divide by (MNIST n = 1000: 0.23-3.0 over 200 seeds; the median of 10 draws
    still moves by 16 % (std), of 25 by ~10 %: benchmarks/floor_variance.py), so the floor FID ("fid") is the median
    over `draws` independent draws (seeds `floor_draw_seeds`: seed, seed + 1, ...), with its quartiles
    "fid_q25"/"fid_q75" (the IQR), every draw's FID "fid_draws" and the count "draws". Only FID is repeated (0.03
    CPU-s per draw at n = 1000 on 128-D features against ~6 s for every metric): KID, precision/recall, IS, class balance and label accuracy of the floor are
    those of draw 0 (seed `seed`), as are "num_fake"/"num_real". For class-conditional generators too: the fakes
    are asked for classes 0..K-1 in turn, the floor is not class-matched (issue 15: one definition everywhere).
    train: (features (M, D), logits (M, K)); train_labels (M,): when given (and `class_balance`), the floor also
    carries the classifier's label accuracy on draw 0's real images. Returns compare_features' dict (draw 0) with
    the median FID, plus "n", "seed", "sampling" ("random"), "draws", "fid_q25", "fid_q75" and "fid_draws".
    """
    seeds = floor_draw_seeds(seed, draws)
    idx = torch.from_numpy(floor_indices(train[0].shape[0], n, seed))
    out = {**compare_features((train[0][idx], train[1][idx]), reference, seed=seed, **kw), "n": int(n),
           "seed": seed, "sampling": "random"}
    fids = [out["fid"], *floor_fids(train[0], reference[0], n, seeds[1:])]
    q25, median, q75 = (float(v) for v in np.percentile(fids, [25, 50, 75]))
    out.update({"fid": median, "fid_q25": q25, "fid_q75": q75, "fid_draws": fids, "draws": len(seeds)})
    if train_labels is not None and kw.get("class_balance", True):
        out["label_accuracy"] = label_accuracy(train[1][idx], np.asarray(train_labels)[idx.numpy()])
    return out


def floor_text(floor: dict[str, Any]) -> str:
    """'floor 1.12 (median of 25 draws of n = 1000 training images; IQR 0.80–1.31)' for a `real_floor` dict; an
    old single-draw floor (no "draws") reads 'floor 1.37 (1 draw of n = 1000 training images)'."""
    draws = floor.get("draws") or 1
    spread = (f"median of {draws} draws" if draws > 1 else "1 draw")
    iqr = f"; IQR {floor['fid_q25']:.3g}–{floor['fid_q75']:.3g}" if draws > 1 and "fid_q25" in floor else ""
    return f"floor {floor['fid']:.3g} ({spread} of n = {floor.get('n')} training images{iqr})"


def _memorisation(fake_f: Tensor, test_f: Tensor, train_f: Tensor) -> dict[str, float]:
    """`Memorisation` of fake features against train, calibrated by test features."""
    memo = Memorisation()
    for split, f in (("fake", fake_f), ("test", test_f), ("train", train_f)):
        memo.update(features=f, split=split)
    return memo.compute()


def evaluate_features(fake: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor],
                      train: tuple[Tensor, Tensor] | None = None, *, seed: int = 0, with_floor: bool = True,
                      kid_subsets: int = 100, kid_subset_size: int = 1000, is_splits: int = 10, k: int = 3,
                      fake_labels: ArrayLike1d | None = None, train_labels: ArrayLike1d | None = None,
                      class_balance: bool = True, floor_draws: int = FLOOR_DRAWS) -> dict[str, Any]:
    """`evaluate_images` on precomputed (features, logits) pairs, so a training run can extract the test and
    train features once and reuse them every epoch. class_balance=False drops the class_* metrics (for logits
    that are not the domain's classes, e.g. Inception's ImageNet classes). floor_draws: how many random draws the
    floor FID is the median of (`real_floor`)."""
    check_floor_draws(floor_draws)
    kw = {"kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "is_splits": is_splits, "k": k,
          "class_balance": class_balance}
    if fake_labels is not None:
        _check_labels(fake_labels, fake[0].shape[0])
    result: dict[str, Any] = {**compare_features(fake, test, seed=seed, **kw), "seed": seed}
    if fake_labels is not None and class_balance:
        result["label_accuracy"] = label_accuracy(fake[1], fake_labels)
    if train is not None:
        result["memorisation"] = _memorisation(fake[0], test[0], train[0])
        if with_floor:
            result["floor"] = real_floor(train, test, min(fake[0].shape[0], train[0].shape[0]), seed,
                                         train_labels, draws=floor_draws, **kw)
    return result


def evaluate_images(fake: ImagesLike, real_test: ImagesLike, real_train: ImagesLike | None, net: FeatureNet,
                    num_samples: int | None = None, *, seed: int = 0, batch_size: int = 500, with_floor: bool = True,
                    kid_subsets: int = 100, kid_subset_size: int = 1000, is_splits: int = 10, k: int = 3,
                    fake_labels: ArrayLike1d | None = None, train_labels: ArrayLike1d | None = None,
                    floor_draws: int = FLOOR_DRAWS) -> dict[str, Any]:
    """Every image metric for uint8 (N, C, H, W) `fake` images against the test split.

    num_samples: how many fakes to use (the first ones; default all). With `real_train`, also the memorisation
    check (nearest-train distances) and, unless `with_floor=False`, the real-vs-real floor (`real_floor`): as many
    training images, drawn uniformly at random, measured against the same test set with the same settings; its
    FID is the median over `floor_draws` draws; result["floor"]["n"] is that count, ["draws"] the draw count.
    fake_labels (the labels a conditional generator was asked for) give the fakes' label accuracy; train_labels
    (default: the labels of an ImageDataset `real_train`) the floor's.
    Returns a flat dict (fid, kid_mean, kid_std, is_mean, is_std, precision, recall, class_*, counts) plus
    "memorisation" and "floor" dicts.
    """
    fake_u8 = as_uint8_images(fake, "fake", net.in_channels)
    count = num_samples or fake_u8.shape[0]
    if count > fake_u8.shape[0]:
        raise GenlabError(f"num_samples={count} but only {fake_u8.shape[0]} fake images were given")
    fake_fl = extract(net, fake_u8[:count], "fake", batch_size)
    test_fl = extract(net, real_test, "real_test", batch_size)
    train_fl = extract(net, real_train, "real_train", batch_size) if real_train is not None else None
    if train_labels is None and isinstance(real_train, ImageDataset):
        train_labels = real_train.labels
    if fake_labels is not None:
        fake_labels = _check_labels(fake_labels, fake_u8.shape[0])[:count]
    return evaluate_features(fake_fl, test_fl, train_fl, seed=seed, with_floor=with_floor, kid_subsets=kid_subsets,
                             kid_subset_size=kid_subset_size, is_splits=is_splits, k=k, fake_labels=fake_labels,
                             train_labels=train_labels, class_balance=getattr(net, "classifies_domain", True),
                             floor_draws=floor_draws)
