"""The knowledge base in PostgreSQL (table ``assistant_kb``) and hybrid retrieval over it.

:func:`ensure_index` embeds every fact in both languages and writes the rows when the facts file or the model
changed (idempotent). :class:`Retriever` loads the rows once and scores a query by cosine similarity of the
embeddings plus a lexical overlap score (shared word stems, BM25-like idf weights), because the packaged embedding
model is English-only and Portuguese questions need the lexical half. The score of a fact is its best row (pt or
en). ``mode="dense"`` or ``"lexical"`` keeps one half only (the evaluation reports all three).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from . import knowledge
from .embeddings import Embedder
from .text import content_stems

LEXICAL_WEIGHT = 0.7  # chosen on 15 development queries (benchmarks/data/assistant_dev.json), not the held-out set


def ensure_index(engine: Engine, embedder: Embedder) -> int:
    """(Re)build ``assistant_kb`` if its facts hash or model differ from the current ones; returns rows written."""
    current = knowledge.kb_hash()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT min(kb_hash), max(kb_hash), min(model), count(*) FROM assistant_kb")).one()
    if row[0] == current == row[1] and row[2] == embedder.name and row[3] == 2 * len(knowledge.facts()):
        return 0
    rows = [(f, lang) for f in knowledge.facts() for lang in knowledge.LANGS]
    vectors = embedder.encode([f.text(lang) for f, lang in rows])
    with engine.begin() as conn:
        # several service processes may start at once: one rebuilds, the others wait and find it current
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('gymchain.assistant_kb'))"))
        again = conn.execute(text("SELECT min(kb_hash), max(kb_hash), min(model), count(*) FROM assistant_kb")).one()
        if again[0] == current == again[1] and again[2] == embedder.name and again[3] == len(rows):
            return 0
        conn.execute(text("DELETE FROM assistant_kb"))
        conn.execute(text("INSERT INTO assistant_kb (fact_id, lang, topic, source, text, embedding, model, kb_hash) "
                          "VALUES (:fact_id, :lang, :topic, :source, :text, :embedding, :model, :kb_hash)"),
                     [{"fact_id": f.id, "lang": lang, "topic": f.topic, "source": f.source, "text": f.text(lang),
                       "embedding": [float(x) for x in vec], "model": embedder.name, "kb_hash": current}
                      for (f, lang), vec in zip(rows, vectors, strict=True)])
    return len(rows)


@dataclass(frozen=True)
class Hit:
    fact: knowledge.Fact
    score: float
    dense: float
    lexical: float


class Retriever:
    """Loads the index from PostgreSQL once; ``search`` is a matrix product plus a lexical score."""

    def __init__(self, engine: Engine, embedder: Embedder):
        self.engine, self.embedder = engine, embedder
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            ensure_index(self.engine, self.embedder)
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT fact_id, lang, text, embedding FROM assistant_kb "
                                         "ORDER BY fact_id, lang")).all()
            facts = knowledge.by_id()
            self.row_fact = [facts[r[0]] for r in rows]
            self.matrix = np.asarray([r[3] for r in rows], dtype=np.float32)
            self.row_stems = [Counter(content_stems(r[2])) for r in rows]
            df = Counter(s for stems in self.row_stems for s in stems)
            n = len(rows)
            self.idf = {s: math.log(1 + (n - c + 0.5) / (c + 0.5)) for s, c in df.items()}
            self._loaded = True

    def lexical_scores(self, query: str) -> np.ndarray:
        q = set(content_stems(query))
        scores = np.zeros(len(self.row_stems), dtype=np.float32)
        if not q:
            return scores
        total = sum(self.idf.get(s, 0.0) for s in q) or 1.0
        for i, stems in enumerate(self.row_stems):
            scores[i] = sum(self.idf[s] for s in q if s in stems) / total
        return scores

    def search(self, query: str, k: int = 3, mode: str = "hybrid", topics: tuple[str, ...] | None = None) -> list[Hit]:
        self._load()
        dense = self.matrix @ self.embedder.encode([query])[0] if mode != "lexical" else np.zeros(len(self.row_fact))
        lexical = self.lexical_scores(query) if mode != "dense" else np.zeros(len(self.row_fact))
        score = dense + LEXICAL_WEIGHT * lexical if mode == "hybrid" else dense + lexical
        best: dict[str, Hit] = {}
        for i in np.argsort(-score):
            fact = self.row_fact[i]
            if fact.id in best or (topics and fact.topic not in topics):
                continue
            best[fact.id] = Hit(fact, float(score[i]), float(dense[i]), float(lexical[i]))
            if len(best) == k:
                break
        return list(best.values())
