"""Training-time data augmentation on model-space batches (N, C, H, W), one table of named transforms.

`data.augment` lists names from `AUGMENTATIONS`, applied in order to every training batch with torch's global
generator (seeded and saved in the training state, so a resumed run sees the same augmented images). Each image
gets its own random draw. Which data they suit:

- "hflip": mirror left-right with probability 1/2. Fashion-MNIST (garments are left-right symmetric), channel
  facies, natural images; not digits or letters (a mirrored 2, 3, 7 is not that class).
- "vflip": mirror top-bottom with probability 1/2. Channel facies seen from above (no up/down in a map view); not
  digits, garments or spectrograms (frequency has a direction).
- "shift": translate by up to 2 pixels in each direction, edges repeated. MNIST, Fashion-MNIST (both centred by
  their centre of mass, so small shifts are plausible) and facies; not spectrogram patches (a vertical shift
  changes pitch).

Augmentation widens the training distribution: the model then also generates the augmented images (mirrored
garments are fine; shifted digits move the samples off-centre a little). It helps most when data are scarce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.errors import GenlabError

MAX_SHIFT = 2  # pixels


def _flip(x: Tensor, dim: int) -> Tensor:
    """Flip along `dim` the images of the batch picked with probability 1/2."""
    pick = (torch.rand(x.shape[0]) < 0.5).to(x.device).reshape(-1, *([1] * (x.ndim - 1)))
    return torch.where(pick, x.flip(dim), x)


def random_shift(x: Tensor, max_shift: int = MAX_SHIFT) -> Tensor:
    """Translate each image by (dy, dx) uniform in [-max_shift, max_shift] pixels; edges repeated (replicate pad)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2))
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


AUGMENTATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "hflip": lambda x: _flip(x, -1),
    "vflip": lambda x: _flip(x, -2),
    "shift": random_shift,
}


def check_names(names: Sequence[str]) -> list[str]:
    """The names, each a key of AUGMENTATIONS; GenlabError naming the first unknown one."""
    for name in names:
        if name not in AUGMENTATIONS:
            raise GenlabError(f"data.augment: unknown augmentation {name!r:.40}; known: {', '.join(AUGMENTATIONS)}")
    return list(names)


def augment(x: Tensor, names: Sequence[str]) -> Tensor:
    """`x` (N, C, H, W) with the named augmentations applied in order (a no-op for an empty list)."""
    for name in check_names(names):
        x = AUGMENTATIONS[name](x)
    return x
