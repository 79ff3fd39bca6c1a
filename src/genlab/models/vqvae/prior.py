"""An autoregressive prior over a VQ-VAE's code grid: a small causal transformer over the raster-ordered code
indices (the role the PixelCNN plays in van den Oord et al. 2017, §3.2; a transformer as in Esser et al. 2021).

Codes (N, h, w) of a K-entry codebook are read as a sequence of L = h·w tokens in raster order. The model gives
p(c_t | c_<t) for every t at once: its input is [start, c_0, …, c_{L−2}] (a learned start embedding, then the
codes shifted by one), each position attends only to itself and earlier positions (a causal mask), so the output
at position t depends on c_<t only. Sampling draws one token per step; every sample uses its own uniform draws
(inverse-CDF sampling), so sample i depends only on its own seed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CodePrior(nn.Module):
    """p(c) = Π_t p(c_t | c_<t) over L tokens from a K-entry codebook; logits (N, T, K)."""

    def __init__(self, num_codes: int, length: int, width: int = 128, depth: int = 3, heads: int = 4):
        super().__init__()
        self.num_codes, self.length = num_codes, length
        self.start = nn.Parameter(torch.zeros(1, 1, width))
        self.tokens = nn.Embedding(num_codes, width)
        self.position = nn.Parameter(0.02 * torch.randn(1, length, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_codes)

    def forward(self, prefix: Tensor) -> Tensor:
        """Logits of c_0 … c_T for a prefix c_<T of codes (N, T) with 0 ≤ T < L: (N, T + 1, K).

        Training passes the whole sequence minus its last token, prefix = c[:, :L−1], and gets all L predictions."""
        n, t = prefix.shape
        h = torch.cat([self.start.expand(n, -1, -1), self.tokens(prefix)], dim=1) + self.position[:, : t + 1]
        mask = nn.Transformer.generate_square_subsequent_mask(t + 1, device=h.device, dtype=h.dtype)
        return self.head(self.norm(self.blocks(h, mask=mask, is_causal=True)))

    def nll(self, codes: Tensor) -> Tensor:
        """Negative log-likelihood of code grids (N, h, w) or sequences (N, L): (N,) in nats."""
        seq = codes.flatten(1)
        logits = self(seq[:, :-1])
        return nn.functional.cross_entropy(logits.transpose(1, 2), seq, reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, uniforms: Tensor, temperature: float = 1.0) -> Tensor:
        """Codes (N, L) drawn token by token; `uniforms` (N, L) in [0, 1) are each sample's own random numbers
        (inverse-CDF sampling). temperature divides the logits; ≤ 0 takes the most likely code at every step."""
        n = uniforms.shape[0]
        seq = torch.zeros(n, 0, dtype=torch.long, device=uniforms.device)
        for t in range(self.length):
            logits = self(seq)[:, -1].float()  # (N, K)
            if temperature <= 0:
                nxt = logits.argmax(1)
            else:
                cdf = torch.softmax(logits / temperature, dim=1).cumsum(1)
                u = uniforms[:, t : t + 1].to(cdf) * cdf[:, -1:]
                nxt = torch.searchsorted(cdf, u).squeeze(1).clamp_max(self.num_codes - 1)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
        return seq
