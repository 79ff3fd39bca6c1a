"""Domain feature nets: a small classifier CNN whose penultimate layer is the embedding for FID/KID/PR.

Inception-V3 features are poor on 28×28 grayscale digits and its weights cannot be downloaded here, so the field's
practice for MNIST-like data is a classifier trained on the domain itself, reported beside its real-vs-real floor
(e.g. fastai's Fashion-MNIST DDPM lesson). Weights ship as safetensors with a JSON sidecar (constructor kwargs,
dataset, test accuracy, the command that made them, sha256) under ``genlab/assets/feature_nets/``.

The standard Inception FID is available when the user has the FID Inception-V3 weights locally
(`genlab.metrics.inception`, ``genlab evaluate --features inception --inception-weights FILE``): genlab's own
implementation of the graph and of torch-fidelity's preprocessing, since torchmetrics builds its Inception only
through torch-fidelity, which requires torchvision (broken beside this torch build). Without the real weights on
this machine its numbers have not been checked against published ones; its plumbing is tested with random weights.

Input convention: images in display space, either uint8 in 0..255 or float in [0, 1], layout (N, C, H, W).
The net maps them to [-1, 1] itself, so every model family is measured on its decoded output by the same code.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "feature_nets"
SCHEMA_VERSION = 1


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 0..255 or float [0, 1] images (N, C, H, W) → float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    if not torch.is_floating_point(images):
        raise GenlabError(f"images: expected uint8 or float tensor, got dtype {images.dtype}")
    return images.float()


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class FeatureNet(nn.Module):
    """Small VGG-style classifier: three conv stages (each two 3×3 conv+BN+ReLU, then 2×2 max-pool), global
    average pool, a `feature_dim` embedding (the features) and a linear classifier (the logits).

    Input (N, in_channels, H, W) uint8 or [0, 1] float (any H, W ≥ 8; `image_size` records the training size).
    ``forward`` returns (features (N, feature_dim), logits (N, num_classes)).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, feature_dim: int = 128,
                 widths: tuple[int, int, int] = (16, 32, 64), dropout: float = 0.2) -> None:
        super().__init__()
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "image_size": image_size,
                       "feature_dim": feature_dim, "widths": list(widths), "dropout": dropout}
        self.num_features = feature_dim  # torchmetrics reads this instead of probing with a 299×299 image
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size
        stages, c = [], in_channels
        for w in widths:
            stages += [_conv_bn(c, w), _conv_bn(w, w), nn.MaxPool2d(2)]
            c = w
        self.trunk = nn.Sequential(*stages)
        self.embed = nn.Linear(c, feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (N, C, H, W) uint8/[0,1] → (features (N, feature_dim), logits (N, num_classes)), float32."""
        x = to_unit_range(images) * 2.0 - 1.0
        h = self.trunk(x).mean(dim=(2, 3))  # (N, widths[-1])
        features = self.embed(h)
        return features, self.head(features)

    @torch.no_grad()
    def extract(self, images: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
        """Features and logits of many images, in eval mode and batches, returned on the CPU as float32."""
        self.eval()
        device = next(self.parameters()).device
        feats, logits = [], []
        for start in range(0, images.shape[0], batch_size):
            f, lg = self(images[start:start + batch_size].to(device))
            feats.append(f.float().cpu())
            logits.append(lg.float().cpu())
        return torch.cat(feats), torch.cat(logits)


class FeaturesOnly(nn.Module):
    """Adapter for torchmetrics FID/KID: returns only the features of a FeatureNet."""

    def __init__(self, net: FeatureNet) -> None:
        super().__init__()
        self.net, self.num_features = net, net.num_features

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)[0]


# ---------------------------------------------------------------------------------------------- save / load

def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_feature_net(net: FeatureNet, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write `<path>.safetensors` (weights; constructor kwargs also in its header) and `<path>.json` (kwargs,
    `info` such as dataset/accuracy/command, and the weights' sha256). Returns the safetensors path."""
    stem = Path(path).with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(weights), metadata={"genlab_config": json.dumps(net.config), "schema": str(SCHEMA_VERSION)})
    sidecar = {"schema": SCHEMA_VERSION, "class": "FeatureNet", "config": net.config, **(info or {}),
               "weights": weights.name, "sha256": file_sha256(weights)}
    stem.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return weights


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar next to a feature-net safetensors file."""
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.is_file():
        raise GenlabError(f"{sidecar}: missing JSON sidecar for feature net {Path(path).name}")
    try:
        return json.loads(sidecar.read_text())
    except json.JSONDecodeError as err:
        raise GenlabError(f"{sidecar}: not valid JSON ({err.msg} at line {err.lineno})") from None


def load_feature_net_file(path: str | Path, device: torch.device | str = "cpu") -> FeatureNet:
    """Rebuild a FeatureNet from `<stem>.safetensors` + `<stem>.json` (never unpickles), in eval mode."""
    weights = Path(path).with_suffix(".safetensors")
    if not weights.is_file():
        raise GenlabError(f"{weights}: feature-net weights not found")
    meta = read_sidecar(weights)
    if meta.get("sha256") and meta["sha256"] != file_sha256(weights):
        raise GenlabError(f"{weights}: sha256 differs from {weights.with_suffix('.json').name}; the file is corrupt")
    config = dict(meta["config"])
    config["widths"] = tuple(config.get("widths", (16, 32, 64)))
    net = FeatureNet(**config)
    net.load_state_dict(load_file(str(weights)))
    return net.to(device).eval()


def load_feature_net(dataset_name: str, device: torch.device | str = "cpu", directory: str | Path | None = None
                     ) -> FeatureNet:
    """The shipped feature net for `dataset_name` (e.g. "mnist", "fashion-mnist") from the assets folder."""
    folder = Path(directory) if directory is not None else ASSET_DIR
    weights = folder / f"{dataset_name}.safetensors"
    if not weights.is_file():
        raise GenlabError(f"{weights}: no feature net for dataset '{dataset_name}'; create it with "
                          f"`python benchmarks/train_feature_nets.py --dataset {dataset_name}`")
    return load_feature_net_file(weights, device=device)


# ---------------------------------------------------------------------------------------------- training

def random_shift(images: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image (N, C, H, W) float by an integer offset in [-max_shift, max_shift] px, zero fill."""
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).to(images.device)  # (N, H)
    cols = (dx[:, None] + torch.arange(w)[None]).to(images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)


@torch.no_grad()
def accuracy(net: FeatureNet, data: ImageDataset, batch_size: int = 1000) -> float:
    """Top-1 accuracy of `net` on a labelled dataset, in [0, 1]."""
    if data.labels is None:
        raise GenlabError(f"dataset '{data.name}': labels are needed to measure a feature net's accuracy")
    images, labels = data.get_batch(np.arange(len(data)))
    _, logits = net.extract(images, batch_size=batch_size)
    return float((logits.argmax(dim=1) == labels).float().mean())


def _train_epoch(net: FeatureNet, data: ImageDataset, opt: torch.optim.Optimizer, sched: Any, batch_size: int,
                 gen: torch.Generator, device: torch.device) -> float:
    """One pass over `data` in a seeded random order with ±2 px shifts; returns the mean loss."""
    net.train()
    order = torch.randperm(len(data), generator=gen).numpy()
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        images, labels = data.get_batch(order[start:start + batch_size])
        x = random_shift(to_unit_range(images), 2, gen).to(device)
        _, logits = net(x)
        loss = F.cross_entropy(logits, labels.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, count = total + loss.item() * len(labels), count + len(labels)
    return total / count


def train_feature_net(train: ImageDataset, test: ImageDataset, epochs: int = 5, batch_size: int = 128,
                      lr: float = 3e-3, seed: int = 0, progress: Callable[[str], None] | None = print,
                      device: torch.device | str = "cpu", **net_kwargs: Any) -> tuple[FeatureNet, dict[str, Any]]:
    """Train a FeatureNet classifier on labelled `train`, report top-1 accuracy on `test`.

    AdamW with a one-cycle learning-rate schedule (peak `lr`), random ±2 px shifts as augmentation.
    Returns (net in eval mode, {"test_accuracy", "train_loss", "epochs", "seconds", ...}).
    """
    if train.labels is None or train.num_classes < 2:
        raise GenlabError(f"dataset '{train.name}': a feature net needs class labels (num_classes={train.num_classes})")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    c, h, _ = train.image_shape
    net = FeatureNet(in_channels=c, num_classes=train.num_classes, image_size=h, **net_kwargs).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * -(-len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start, loss = time.time(), float("nan")
    for epoch in range(epochs):
        loss = _train_epoch(net, train, opt, sched, batch_size, gen, torch.device(device))
        if progress:
            progress(f"epoch {epoch + 1}/{epochs} loss {loss:.4f} ({time.time() - start:.0f} s)")
    net.eval()
    acc = accuracy(net, test)
    return net, {"test_accuracy": acc, "train_loss": loss, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                 "seed": seed, "seconds": round(time.time() - start, 1), "num_train": len(train), "num_test": len(test)}
