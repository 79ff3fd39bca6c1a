"""Importance-weighted log-likelihood estimates of VAE-type models (Burda, Grosse & Salakhutdinov 2016, "IWAE").

For an image x and k codes z_i ~ q(z | x), the log weights log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x)
give the bound  L_k(x) = log (1/k) Σ_i w_i  ≤ log p(x).  E[L_1] is the ELBO, E[L_k] is non-decreasing in k and
L_k → log p(x) as k → ∞; Burda et al. report −L_5000 as the "test NLL". A family takes part by defining
``model.log_importance_weights(x, k, y=None) -> (N, k)`` (x in model space; the VAE's is in genlab.models.vae).

Memory stays bounded: images go in batches of `batch_size` and the k samples in chunks of `chunk`, combined by a
running log-sum-exp, so the decoder never sees more than batch_size × chunk codes at once. Results are in nats
per image (the negative log-likelihood, lower is better); `bits_per_dim` divides by D·log 2.

Binarized data: a Bernoulli decoder's likelihood is a proper probability only for binary images, so the test set
is binarized once with a seeded stochastic draw (pixel on with probability = its intensity), the same draw for
every model (`binarized_test_set`). Published binarized-MNIST numbers use either that stochastic binarization or
the fixed Larochelle & Murray (2011) set; say which when comparing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError

MAX_K = 100_000


def supports_iwae(model: torch.nn.Module) -> bool:
    """True when the model can give per-sample importance log weights (VAE-type families)."""
    return callable(getattr(model, "log_importance_weights", None))


def check_k(k: Any, name: str = "k") -> int:
    """k as an int in [1, MAX_K], else a one-line GenlabError naming the value."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise GenlabError(f"importance samples {name} = {k!r}; expected an integer in [1, {MAX_K}]")
    return k


def logmeanexp(log_w: Tensor, dim: int = -1) -> Tensor:
    """log (1/k) Σ exp(log_w) along `dim`, stable."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


@torch.no_grad()
def iwae_bound(model: torch.nn.Module, x: Tensor, k: int, y: Tensor | None = None, chunk: int = 500,
               generator_seed: int | None = None) -> Tensor:
    """L_k(x) for each image of the batch x (N, C, H, W) in model space: (N,) nats, on the CPU.

    The k samples are drawn `chunk` at a time and merged by a running log-sum-exp (exactly the logmeanexp of
    all k weights). `generator_seed` seeds torch's global generator first (reproducible draws).
    """
    k = check_k(k)
    if not supports_iwae(model):
        raise GenlabError(f"model family '{getattr(model, 'family', '?')}' gives no importance weights; the IWAE "
                          "likelihood needs a VAE-type model (vae, ladder VAE, ...)")
    if generator_seed is not None:
        torch.manual_seed(int(generator_seed))
    total: Tensor | None = None
    done = 0
    while done < k:
        m = min(chunk, k - done)
        lse = torch.logsumexp(model.log_importance_weights(x, m, y).double(), dim=1)
        total = lse if total is None else torch.logaddexp(total, lse)
        done += m
    assert total is not None
    return (total - math.log(k)).float().cpu()


@dataclass
class LikelihoodResult:
    """IWAE estimate of the test NLL: mean over n images of −L_k (nats), its standard error over images, bits/dim,
    and the cost (seconds per image at this k)."""

    nll_nats: float
    stderr_nats: float
    bits_per_dim: float
    n: int
    k: int
    binarized: bool
    seconds: float
    seconds_per_image: float
    per_image: list[float] = field(default_factory=list, repr=False)

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not per_image:
            d.pop("per_image")
        return d


@torch.no_grad()
def iwae_nll(model: torch.nn.Module, x: Tensor, k: int = 5000, *, y: Tensor | None = None, batch_size: int = 10,
             chunk: int = 500, seed: int = 0, binarized: bool = False,
             progress: Callable[[int, int], None] | None = None) -> LikelihoodResult:
    """−L_k averaged over the images x (N, C, H, W) in model space (already binarized when the decoder is
    Bernoulli; see `binarize_seeded`). The decoder sees at most batch_size × min(k, chunk) codes at once.
    `progress(done, total)` is called after every batch."""
    k = check_k(k)
    if x.dim() != 4 or x.shape[0] == 0:
        raise GenlabError(f"images for the likelihood: expected a non-empty (N, C, H, W) batch, got {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(int(seed))
    start = time.perf_counter()
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            yb = None if y is None else y[i:i + batch_size].to(device)
            out.append(iwae_bound(model, x[i:i + batch_size].to(device), k, yb, chunk))
            if progress is not None:
                progress(min(i + batch_size, x.shape[0]), x.shape[0])
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - start
    nll = -torch.cat(out).double()
    n = int(nll.numel())
    stderr = float(nll.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    dims = math.prod(x.shape[1:])
    return LikelihoodResult(float(nll.mean()), stderr, float(nll.mean()) / (dims * math.log(2)), n, k, binarized,
                            round(seconds, 3), seconds / n, [float(v) for v in nll])


def binarize_seeded(x: Tensor, seed: int = 0) -> Tensor:
    """A reproducible stochastic binarization of images in model space [-1, 1] (pixel +1 with probability
    (x + 1) / 2, else −1), drawn on the CPU with its own generator so every model sees the same binary images."""
    from genlab.models.vae.model import binarize_images

    g = torch.Generator().manual_seed(int(seed))
    return binarize_images(x.detach().cpu().float(), g)
