"""The curated knowledge base: exercise, nutrition, safety and recovery facts written for gymchain from public
guidelines (WHO 2020, ACSM position stands, the Brazilian physical-activity and dietary guides, ISSN, IOM, EFSA).

Each fact has a stable id, a topic, one cited source (a key of ``kb/sources.json``) and its text in Portuguese and
English. The files are JSON, loaded and validated here; :func:`kb_hash` identifies the version that was embedded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

TOPICS = ("exercise", "nutrition", "safety", "recovery")
LANGS = ("pt", "en")


@dataclass(frozen=True)
class Fact:
    id: str
    topic: str
    source: str
    en: str
    pt: str

    def text(self, lang: str) -> str:
        return self.pt if lang == "pt" else self.en


def _read(name: str) -> str:
    return resources.files("gymchain.assistant").joinpath("kb", name).read_text(encoding="utf-8")


@lru_cache
def sources() -> dict[str, str]:
    """Citation key -> full reference."""
    return json.loads(_read("sources.json"))


@lru_cache
def facts() -> tuple[Fact, ...]:
    """Every fact, validated: unique ids, known topic and source, both languages present."""
    data = json.loads(_read("facts.json"))
    known = sources()
    out, seen = [], set()
    for i, row in enumerate(data["facts"]):
        fact = Fact(row["id"], row["topic"], row["source"], row["en"].strip(), row["pt"].strip())
        problems = [p for p, bad in (("duplicate id", fact.id in seen), (f"topic {fact.topic!r}", fact.topic not in TOPICS),
                                     (f"source {fact.source!r}", fact.source not in known),
                                     ("empty text", not fact.en or not fact.pt)) if bad]
        if problems:
            raise ValueError(f"kb/facts.json fact #{i} ({row.get('id')}): {', '.join(problems)}")
        seen.add(fact.id)
        out.append(fact)
    return tuple(out)


@lru_cache
def by_id() -> dict[str, Fact]:
    return {f.id: f for f in facts()}


def kb_hash() -> str:
    """SHA-256 of the facts file: the index is rebuilt when it changes."""
    return hashlib.sha256(_read("facts.json").encode()).hexdigest()


def citation(fact: Fact) -> dict[str, str]:
    return {"fact_id": fact.id, "source": fact.source, "reference": sources()[fact.source]}
