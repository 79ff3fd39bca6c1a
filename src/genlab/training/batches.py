"""Deterministic batch order: the data order is a function of (seed, images seen), so resuming is exact.

Images are drawn pass after pass, each pass a fresh permutation of the whole dataset seeded by (seed, pass). A
global batch is split between processes by stride, so every process sees a different part of the same batch.
"""

from __future__ import annotations

import numpy as np


class BatchOrder:
    def __init__(self, num_items: int, seed: int):
        self.num_items = int(num_items)
        self.seed = int(seed)
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, pass_index: int) -> np.ndarray:
        if pass_index not in self._cache:
            self._cache = {pass_index: np.random.default_rng([self.seed, pass_index]).permutation(self.num_items)}
        return self._cache[pass_index]

    def indices(self, images_seen: int, batch_size: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """Dataset indices of the global batch starting after `images_seen` images, this rank's share."""
        out, start, need = [], images_seen, batch_size
        while need > 0:
            pass_index, offset = divmod(start, self.num_items)
            take = min(need, self.num_items - offset)
            out.append(self._perm(pass_index)[offset: offset + take])
            start, need = start + take, need - take
        return np.concatenate(out)[rank::world_size]
