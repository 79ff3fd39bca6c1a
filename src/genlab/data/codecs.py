"""Domain codecs: stored pixels ↔ model space.

Model space is float (N, C, H, W) in [-1, 1] for every image-like domain, so a family never knows whether it is
drawing digits or channel facies. A codec's `state()` is JSON and goes into the snapshot header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError


@dataclass(frozen=True)
class ImageCodec:
    """uint8 images with `levels` values (0..levels-1) ↔ [-1, 1].

    levels=256: grayscale; levels=2: binary facies {0, 1} (decode thresholds at 0, i.e. probability 0.5).
    """

    channels: int
    height: int
    width: int
    levels: int = 256
    kind: str = "image"

    def encode(self, x: Tensor) -> Tensor:
        """uint8 (N, C, H, W) → float32 in [-1, 1]."""
        return x.float().mul_(2.0 / (self.levels - 1)).sub_(1.0)

    def decode(self, x: Tensor) -> Tensor:
        """model-space float (N, C, H, W) → uint8 stored values (binary domains are thresholded)."""
        x = x.float().clamp(-1.0, 1.0)
        if self.levels == 2:
            return (x > 0).to(torch.uint8)
        return ((x + 1.0) * (self.levels - 1) / 2.0).round_().to(torch.uint8)

    def to_display(self, x: Tensor) -> Tensor:
        """model-space float → uint8 0..255 for viewing (binary facies become 0/255)."""
        return (self.decode(x).float() * (255.0 / (self.levels - 1))).round_().to(torch.uint8)

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


# kind -> function(state dict) -> codec. Other domains (e.g. spectrograms) register their codec here.
_CODECS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def register_codec(kind: str, from_state: Callable[[dict[str, Any]], Any]) -> None:
    """Make `codec_from_state` rebuild codecs whose state has ``"kind": kind``.

    A codec needs: ``encode(batch) -> model-space tensor``, ``decode(x)``, ``to_display(x)`` and ``state() -> JSON``
    (with its "kind"). A dataset may offer its own codec through a ``codec()`` method.
    """
    _CODECS[kind] = from_state


def codec_from_state(state: dict[str, Any]) -> Any:
    """Rebuild a codec from its JSON state (as stored in a snapshot header)."""
    kind = state.get("kind", "image")
    if kind not in _CODECS:
        raise GenlabError(f"unknown codec kind '{kind}' in snapshot header; known: {', '.join(sorted(_CODECS))}")
    return _CODECS[kind]({k: v for k, v in state.items()})


register_codec("image", lambda state: ImageCodec(**state))
