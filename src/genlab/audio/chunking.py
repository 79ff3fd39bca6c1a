"""Process long audio in overlapping chunks and put it back together with window-normalised overlap-add.

A track longer than memory (or than a model's receptive field) is cut into chunks of `chunk` samples that start
every ``hop = chunk − overlap`` samples. On the way back each chunk is weighted by a trapezoid window — linear
fade-in over the first `overlap` samples (except the first chunk), linear fade-out over the last `overlap` samples
(except the last chunk), 1 elsewhere — and the weighted sum is divided by the summed weights. Complementary linear
fades sum to exactly 1, so split → merge is the identity and a processed signal has no seams or level dips.

`process_file_in_chunks` streams a WAV file through a function holding one chunk in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

ChunkFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ChunkPlan:
    """Where chunks start for a signal of `num_samples` samples; the last chunk is zero-padded past the end."""

    num_samples: int
    chunk: int
    overlap: int

    def __post_init__(self) -> None:
        if self.chunk <= 0 or not 0 <= self.overlap < self.chunk or self.num_samples < 0:
            raise GenlabError(f"chunking: need chunk > 0 and 0 ≤ overlap < chunk, got chunk={self.chunk}, "
                              f"overlap={self.overlap}")

    @property
    def hop(self) -> int:
        return self.chunk - self.overlap

    @property
    def starts(self) -> list[int]:
        """Chunk start samples: 0, hop, 2·hop, … until a chunk reaches the end."""
        if self.num_samples <= self.chunk:
            return [0]
        n = -(-(self.num_samples - self.chunk) // self.hop) + 1  # ceil division
        return [k * self.hop for k in range(n)]

    def window(self, k: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
        """(chunk,) trapezoid weight of chunk k: linear fades in the overlaps that have a neighbour."""
        w = torch.ones(self.chunk, device=device, dtype=dtype)
        if self.overlap == 0:
            return w
        ramp = (torch.arange(self.overlap, device=device, dtype=dtype) + 0.5) / self.overlap  # fade-in, sums to 1
        if k > 0:
            w[: self.overlap] = ramp
        if k < len(self.starts) - 1:
            w[-self.overlap:] = 1.0 - ramp
        return w


def plan_chunks(num_samples: int, chunk_samples: int, overlap_samples: int) -> ChunkPlan:
    return ChunkPlan(int(num_samples), int(chunk_samples), int(overlap_samples))


def split_chunks(wave: Tensor, plan: ChunkPlan) -> Tensor:
    """(..., S) → (K, ..., chunk): chunks at ``plan.starts``, zero-padded after the end of the signal."""
    if wave.shape[-1] != plan.num_samples:
        raise GenlabError(f"chunking: signal has {wave.shape[-1]} samples, the plan expects {plan.num_samples}")
    pad = plan.starts[-1] + plan.chunk - plan.num_samples
    padded = torch.nn.functional.pad(wave, (0, max(pad, 0)))
    return torch.stack([padded[..., s: s + plan.chunk] for s in plan.starts])


def merge_chunks(chunks: Tensor, plan: ChunkPlan) -> Tensor:
    """(K, ..., chunk) → (..., S) by window-weighted overlap-add divided by the summed window."""
    if chunks.shape[0] != len(plan.starts) or chunks.shape[-1] != plan.chunk:
        raise GenlabError(f"chunking: got chunks of shape {tuple(chunks.shape)}; the plan has "
                          f"{len(plan.starts)} chunks of {plan.chunk} samples")
    total = plan.starts[-1] + plan.chunk
    out = chunks.new_zeros(*chunks.shape[1:-1], total)
    weight = chunks.new_zeros(total)
    for k, s in enumerate(plan.starts):
        w = plan.window(k, chunks.device, chunks.dtype)
        out[..., s: s + plan.chunk] += chunks[k] * w
        weight[s: s + plan.chunk] += w
    return (out / weight.clamp_min(1e-8))[..., : plan.num_samples]


def process_in_chunks(wave: Tensor, fn: ChunkFn, chunk_samples: int, overlap_samples: int,
                      batch_size: int = 1) -> Tensor:
    """Apply `fn` ((B, ..., chunk) → same shape) to overlapping chunks of (..., S) `wave` and merge them back."""
    plan = plan_chunks(wave.shape[-1], chunk_samples, overlap_samples)
    chunks = split_chunks(wave, plan)
    outs = [fn(chunks[i: i + batch_size]) for i in range(0, chunks.shape[0], batch_size)]
    return merge_chunks(torch.cat(outs), plan)


def process_file_in_chunks(in_path: str | Path, out_path: str | Path, fn: ChunkFn, chunk_s: float = 10.0,
                           overlap_s: float = 1.0, subtype: str = "FLOAT") -> Path:
    """Stream a WAV/FLAC file through `fn` ((C, chunk) → (C, chunk)) one chunk at a time and write the result.

    Memory holds one input chunk and one overlap of carried output, whatever the track length. The output keeps the
    input's rate and channels and is written atomically.
    """
    import soundfile as sf

    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.is_file():
        raise GenlabError(f"audio file not found: '{in_path}'")
    with atomic_path(out_path, suffix=".wav") as tmp, sf.SoundFile(str(in_path)) as src:
        plan = plan_chunks(src.frames, round(chunk_s * src.samplerate), round(overlap_s * src.samplerate))
        with sf.SoundFile(str(tmp), "w", src.samplerate, src.channels, subtype=subtype, format="WAV") as dst:
            _stream(src, dst, fn, plan)
    return out_path


def _stream(src, dst, fn: ChunkFn, plan: ChunkPlan) -> None:
    """Overlap-add with a carried tail: samples before the next chunk's start are final once a chunk is done."""
    carry = None
    last = len(plan.starts) - 1
    for k, start in enumerate(plan.starts):
        src.seek(start)
        x = np.zeros((src.channels, plan.chunk), dtype=np.float32)
        got = src.read(plan.chunk, dtype="float32", always_2d=True).T
        x[:, : got.shape[1]] = got
        y = fn(torch.from_numpy(x)).detach().float().cpu() * plan.window(k)
        if carry is not None:
            y[:, : plan.overlap] += carry
        n_final = plan.num_samples - start if k == last else plan.hop
        dst.write(y[:, :n_final].numpy().T)
        carry = y[:, plan.hop:]
