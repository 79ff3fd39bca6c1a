"""Domain codecs: stored pixels ↔ model space.

Model space is float (N, C, H, W) in [-1, 1] for every image-like domain, so a family never knows whether it is
drawing digits or channel facies. A codec's `state()` is JSON and goes into the snapshot header; `CODECS` is the one
table that rebuilds codecs from it (`codec_from_state`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from genlab.audio.dataset import SpectrogramPatchCodec, WaveformCodec
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


def image_codec_from_state(state: dict[str, Any]) -> ImageCodec:
    """An ImageCodec from its JSON state, values checked (positive sizes, 2..256 levels)."""
    codec = ImageCodec(**state)
    for name in ("channels", "height", "width"):
        if not 1 <= getattr(codec, name) <= MAX_SIDE:
            raise GenlabError(f"codec {name} = {getattr(codec, name)}: expected 1..{MAX_SIDE}")
    if not 2 <= codec.levels <= 256:
        raise GenlabError(f"codec levels = {codec.levels}: expected 2..256")
    return codec


MAX_SIDE = 1 << 16  # no codec dimension (image side, FFT size, hop) is larger
# The table: codec kind → constructor taking the codec's JSON state (without "kind"). A new domain adds one line.
CODECS: dict[str, Callable[..., Any]] = {
    "image": image_codec_from_state,  # grayscale and binary facies images
    SpectrogramPatchCodec.kind: SpectrogramPatchCodec,  # MUSDB log-magnitude patches (audio codecs live beside
    WaveformCodec.kind: WaveformCodec,  # their dataset, genlab.audio.dataset)
}


def codec_names() -> list[str]:
    return sorted(CODECS)


def codec_from_state(state: Any) -> Any:
    """Rebuild a codec from its JSON state (as stored in a snapshot header); GenlabError naming the bad key/value
    for an unknown kind, an option the codec does not take, or a value of the wrong type."""
    if not isinstance(state, dict):
        raise GenlabError(f"codec state must be a JSON object, got {type(state).__name__}")
    kind = state.get("kind", "image")
    if not isinstance(kind, str) or kind not in CODECS:
        raise GenlabError(f"unknown codec kind {kind!r} in snapshot header; known: {', '.join(codec_names())}")
    build = CODECS[kind]
    options = {k: v for k, v in state.items() if k != "kind" or build is image_codec_from_state}
    _check_codec_options(kind, build, options)
    try:
        return build(options) if build is image_codec_from_state else build(**options)
    except GenlabError:
        raise
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise GenlabError(f"codec '{kind}': state does not build ({str(e).splitlines()[0][:160]})") from None


def _check_codec_options(kind: str, build: Callable[..., Any], options: dict[str, Any]) -> None:
    """Unknown option names and values of the wrong JSON type (numbers, lists of numbers) are refused."""
    if build is image_codec_from_state:
        params = {f: int for f in ("channels", "height", "width", "levels")} | {"kind": str}
    else:
        sig = inspect.signature(build)
        params = {n: p.default for n, p in sig.parameters.items()
                  if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}
        params = {n: type(d) if d is not None and d is not inspect.Parameter.empty else list for n, d in params.items()}
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise GenlabError(f"codec '{kind}' does not take {unknown[0]!r:.60}; it takes: {', '.join(sorted(params))}")
    for name, value in options.items():
        if not _fits(value, params[name]):
            raise GenlabError(f"codec '{kind}': {name} = {value!r:.60} is not {params[name].__name__}")


def _fits(value: Any, kind: type) -> bool:
    if kind is list:
        return isinstance(value, list) and all(_is_number(v) for v in value)
    if kind is float:
        return _is_number(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SIDE
    return isinstance(value, kind)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def register_codec(kind: str, from_state: Callable[..., Any]) -> None:
    """Add a codec kind at run time (plug-ins and tests; built-in codecs are listed in `CODECS`)."""
    CODECS[kind] = from_state
