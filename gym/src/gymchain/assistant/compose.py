"""Grounded answers: the LLM only phrases retrieved facts, and a support check decides what is kept.

Faithfulness (used both as a guard here and as the evaluation's metric): an answer sentence is *supported* by a
set of facts when every number in it appears in those facts and at least ``MIN_OVERLAP`` of its content-word stems
occur in them. An answer's faithfulness is the share of its sentences that are supported. The composer keeps the
supported sentences of the LLM's phrasing; when none survive (or the model answered in the wrong language, or
failed), the answer is the top facts themselves, verbatim. Every answer carries its facts' sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from . import knowledge
from .text import content_stems, detect_language, numbers

MIN_OVERLAP = 0.6
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

PROMPT = ChatPromptTemplate.from_messages([
    ("system", ("You are the fitness assistant of a gym chain. Answer the member's question in {language} in one "
                "or two short sentences, using ONLY the facts below. Do not add numbers or advice that are not in "
                "the facts. Never diagnose.\n\nFacts:\n{facts}")),
    ("human", "{question}"),
])
LANGUAGE = {"pt": "Brazilian Portuguese", "en": "English"}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if len(s.strip()) > 1]


def supported(sentence: str, fact_texts: list[str]) -> bool:
    pool = " ".join(fact_texts)
    if not numbers(sentence) <= numbers(pool):
        return False
    stems = content_stems(sentence)
    if not stems:
        return True
    pool_stems = set(content_stems(pool))
    return sum(s in pool_stems for s in stems) / len(stems) >= MIN_OVERLAP


def faithfulness(answer: str, fact_texts: list[str]) -> float:
    parts = sentences(answer)
    return sum(supported(s, fact_texts) for s in parts) / len(parts) if parts else 0.0


@dataclass
class Answer:
    text: str
    facts: list[knowledge.Fact]
    phrased_by: str  # "llm" or "facts"
    llm_raw: str | None = None
    llm_faithfulness: float | None = None
    notes: list[str] = field(default_factory=list)


def compose(question: str, facts: list[knowledge.Fact], lang: str, llm: BaseChatModel | None) -> Answer:
    """Phrase ``facts`` for ``question`` in ``lang`` ('pt' or 'en'), keeping only supported sentences."""
    both = [f.pt for f in facts] + [f.en for f in facts]
    fallback = " ".join(f.text(lang) for f in facts[:2])
    if llm is None or not facts:
        return Answer(fallback, facts, "facts")
    chain = PROMPT | llm | StrOutputParser()
    try:
        raw = chain.invoke({"language": LANGUAGE[lang], "question": question,
                            "facts": "\n".join(f"- {f.text(lang)}" for f in facts)}).strip()
    except Exception as exc:  # noqa: BLE001 - a backend failure must not lose the answer: state the facts
        return Answer(fallback, facts, "facts", notes=[f"llm failed: {type(exc).__name__}"])
    score = faithfulness(raw, both)
    kept = [s for s in sentences(raw) if supported(s, both)]
    if not kept or detect_language(" ".join(kept), default=lang) != lang:
        return Answer(fallback, facts, "facts", raw, score, ["llm phrasing not supported by the facts"])
    return Answer(" ".join(kept), facts, "llm", raw, score)
