"""Classifier guidance (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs", sec. 4 and Algorithm 2) with a
noise-conditional classifier p(y | x_t, t), trained on noisy images at the noise levels of the model it guides.

Guidance moves the noise prediction along the classifier's gradient, eps' = eps - s sigma grad log p(y | x_t, t);
in the x0-prediction that every sampler consumes this is

    x0' = x0_hat + s (sigma^2 / alpha) grad_{x_t} log p(y | x_t, t)        (sigma^2 = 1 - alpha_bar, alpha = sqrt(ab))

so `GuidedDenoiser` wraps any denoiser (classifier-free guided or not) and every sampler of SAMPLERS takes it. It
guides unconditional models too: that is what it was invented for. The classifier is a small time-conditioned
ResNet (genlab.nn blocks); it stores the alpha_bar table it was trained at, and guiding a model with another table
is refused. Saved as safetensors with its constructor arguments in the JSON metadata (nothing is unpickled).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.diffusion.objective import alpha_sigma, noise_condition
from genlab.nn.blocks import Downsample, ResBlock, group_norm
from genlab.nn.embeddings import TimestepEmbedding

FORMAT = "genlab-noisy-classifier"


class NoisyClassifier(nn.Module):
    """Logits (N, K) of class y given a noisy image x_t (N, C, H, W) at training index t (N,) long.

    A conv stem, per level a time-conditioned ResBlock (+ a Downsample between levels), global average pooling
    and a linear head. `alphas_cumprod` (T,) float64 is the noise table it is trained at (a buffer, saved with it).
    """

    def __init__(self, image_shape: Sequence[int], num_classes: int, alphas_cumprod: Tensor,
                 base_channels: int = 32, channel_mults: Sequence[int] = (1, 2, 2)):
        super().__init__()
        if num_classes < 2:
            raise GenlabError(f"noisy classifier: needs >= 2 classes, got {num_classes}")
        self.kwargs = {"image_shape": [int(s) for s in image_shape], "num_classes": int(num_classes),
                       "base_channels": int(base_channels), "channel_mults": [int(m) for m in channel_mults],
                       "num_train_steps": len(alphas_cumprod)}
        c = int(image_shape[0])
        emb = 4 * base_channels
        self.register_buffer("alphas_cumprod", alphas_cumprod.double().clone(), persistent=True)
        self.time_embed = TimestepEmbedding(base_channels, emb)
        self.conv_in = nn.Conv2d(c, base_channels, 3, padding=1)
        widths, ch, layers = [base_channels * m for m in channel_mults], base_channels, []
        for i, w in enumerate(widths):
            layers.append(ResBlock(ch, w, emb))
            ch = w
            if i < len(widths) - 1:
                layers.append(Downsample(ch))
        self.layers = nn.ModuleList(layers)
        self.norm_out = group_norm(ch)
        self.head = nn.Linear(ch, num_classes)

    @property
    def num_classes(self) -> int:
        return self.kwargs["num_classes"]

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        emb = self.time_embed(noise_condition(t, len(self.alphas_cumprod)).to(x_t.device))
        h = self.conv_in(x_t)
        for layer in self.layers:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return self.head(F.silu(self.norm_out(h)).mean(dim=(2, 3)))


def noisy_batch(x0: Tensor, alphas_cumprod: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
    """(x_t, t) with t uniform over the table and x_t = alpha x0 + sigma eps (the model's forward process)."""
    t = torch.randint(0, len(alphas_cumprod), (x0.shape[0],), generator=generator)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    alpha, sigma = alpha_sigma(alphas_cumprod, t, x0.ndim, x0.dtype, x0.device)
    return alpha * x0 + sigma * eps, t.to(x0.device)


def train_noisy_classifier(x0: Tensor, labels: Tensor, alphas_cumprod: Tensor, *, num_classes: int,
                           steps: int = 1000, batch_size: int = 128, lr: float = 1e-3, base_channels: int = 32,
                           channel_mults: Sequence[int] = (1, 2, 2), seed: int = 0,
                           progress: Callable[[int, dict], None] | None = None) -> tuple[NoisyClassifier, dict]:
    """Train a `NoisyClassifier` on images x0 (N, C, H, W) in [-1, 1] with labels (N,) at the table's noise levels
    (cross-entropy, AdamW, cosine learning-rate decay). Returns the classifier (eval mode) and the last logs."""
    if x0.shape[0] != labels.shape[0] or x0.shape[0] == 0:
        raise GenlabError(f"noisy classifier: {x0.shape[0]} images but {labels.shape[0]} labels")
    if int(steps) < 1 or int(batch_size) < 1:
        raise GenlabError(f"noisy classifier: steps ({steps}) and batch_size ({batch_size}) must be >= 1")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    clf = NoisyClassifier(x0.shape[1:], num_classes, alphas_cumprod, base_channels, channel_mults).to(x0.device)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    logs: dict[str, float] = {}
    for step in range(int(steps)):
        idx = torch.randint(0, x0.shape[0], (int(batch_size),), generator=gen)
        x_t, t = noisy_batch(x0[idx], clf.alphas_cumprod, gen)
        logits = clf(x_t, t)
        loss = F.cross_entropy(logits, labels[idx].to(x0.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        logits = logits.detach()
        logs = {"loss": float(loss.detach()), "accuracy": float((logits.argmax(1) == labels[idx].to(x0.device)).float().mean())}
        if progress is not None:
            progress(step + 1, logs)
    return clf.eval(), logs


@torch.no_grad()
def accuracy_by_noise(clf: NoisyClassifier, x0: Tensor, labels: Tensor, timesteps: Sequence[int], seed: int = 0
                      ) -> dict[int, float]:
    """Accuracy of the classifier on x0 noised to each training index in `timesteps` (one draw per image)."""
    gen, out = torch.Generator().manual_seed(seed), {}
    for t in timesteps:
        tt = torch.full((x0.shape[0],), int(t), dtype=torch.long)
        alpha, sigma = alpha_sigma(clf.alphas_cumprod, tt, x0.ndim, x0.dtype, x0.device)
        x_t = alpha * x0 + sigma * torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
        out[int(t)] = float((clf(x_t, tt.to(x0.device)).argmax(1).cpu() == labels.cpu()).float().mean())
    return out


class GuidedDenoiser:
    """`denoise(x_t, t) -> x0_hat` plus classifier guidance of strength `scale` towards `labels` (N,) long."""

    def __init__(self, denoise: Callable[[Tensor, Tensor], Tensor], classifier: nn.Module, labels: Tensor,
                 scale: float, alphas_cumprod: Tensor, clip_x0: bool = True):
        check_table(classifier, alphas_cumprod)
        self.denoise, self.classifier, self.labels = denoise, classifier, labels
        self.scale, self.alphas_cumprod, self.clip_x0 = float(scale), alphas_cumprod, clip_x0

    def log_prob_grad(self, x_t: Tensor, t: Tensor) -> Tensor:
        """grad_{x_t} log p(labels | x_t, t), (N, C, H, W)."""
        with torch.enable_grad():
            x = x_t.detach().float().requires_grad_(True)
            logp = F.log_softmax(self.classifier(x, t).float(), dim=1)
            chosen = logp.gather(1, self.labels.to(x.device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(chosen, x)
        return grad.to(x_t.dtype)

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        x0 = self.denoise(x_t, t)
        if self.scale == 0.0:
            return x0
        alpha, sigma = alpha_sigma(self.alphas_cumprod, t.cpu(), x_t.ndim, x_t.dtype, x_t.device)
        x0 = x0 + self.scale * sigma**2 / alpha * self.log_prob_grad(x_t, t)
        return x0.clamp(-1.0, 1.0) if self.clip_x0 else x0


def check_table(classifier: nn.Module, alphas_cumprod: Tensor) -> None:
    """GenlabError unless the classifier was trained at the noise levels `alphas_cumprod` (T,)."""
    own = getattr(classifier, "alphas_cumprod", None)
    if own is None or own.shape != alphas_cumprod.shape or not torch.allclose(own.double().cpu(),
                                                                              alphas_cumprod.double().cpu(), rtol=1e-6):
        t_own = "?" if own is None else len(own)
        raise GenlabError(f"classifier guidance: the classifier was trained at other noise levels (T = {t_own}) "
                          f"than the model's (T = {len(alphas_cumprod)}); train one for this model with "
                          "`genlab train-classifier`")


def save_classifier(clf: NoisyClassifier, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """safetensors weights (+ the table) with {"format", "kwargs", "extra"} as JSON metadata."""
    path = Path(path)
    meta = {"format": json.dumps(FORMAT), "kwargs": json.dumps(clf.kwargs), "extra": json.dumps(extra or {})}
    save_file({k: v.detach().cpu().contiguous() for k, v in clf.state_dict().items()}, str(path), metadata=meta)
    return path


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> NoisyClassifier:
    """A classifier saved by `save_classifier`; one-line GenlabError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path}: classifier file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a dict
        if json.loads(meta.get("format", "null")) != FORMAT:
            raise GenlabError(f"{path}: not a genlab noisy classifier (written by `genlab train-classifier`)")
        kw = json.loads(meta["kwargs"])
        table = tensors["alphas_cumprod"]
        clf = NoisyClassifier(kw["image_shape"], kw["num_classes"], table, kw["base_channels"], kw["channel_mults"])
        clf.load_state_dict(tensors, strict=True)
    except GenlabError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed file is one line naming it
        raise GenlabError(f"{path}: cannot read the classifier ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
                          ) from None
    return clf.to(device).eval()
