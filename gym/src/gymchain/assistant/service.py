"""The assistant's process-wide parts (embedder, index, router, LLM), built once and lazily: importing the app
stays cheap, the first question loads the models (a few seconds; the knowledge base is embedded into PostgreSQL on
first use if its table is empty or stale)."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

from .config import get_assistant_settings
from .embeddings import default_embedder
from .engine import Assistant
from .llm import make_llm
from .plans import GOALS, Profile
from .router import Router
from .store import Retriever

_lock = threading.Lock()
_assistant: Assistant | None = None


def get_assistant(engine: Engine) -> Assistant:
    global _assistant
    with _lock:
        if _assistant is None:
            settings = get_assistant_settings()
            embedder = default_embedder()
            retriever = Retriever(engine, embedder)
            _assistant = Assistant(Router(embedder, retriever), retriever, make_llm(settings), tz=settings.timezone,
                                   top_k=settings.top_k)
        return _assistant


def load_profile(conn, member_id: int) -> Profile | None:
    row = conn.execute(text("SELECT goal, days_per_week, minutes_per_session, level FROM assistant_profiles "
                            "WHERE member_id = :m"), {"m": member_id}).first()
    return Profile(row[0], row[1], row[2], row[3]) if row else None


def save_profile(conn, member_id: int, profile: Profile) -> None:
    if profile.goal not in GOALS:
        raise ValueError(f"goal {profile.goal!r}: expected one of {', '.join(GOALS)}")
    conn.execute(text("INSERT INTO assistant_profiles (member_id, goal, level, days_per_week, minutes_per_session) "
                      "VALUES (:m, :g, :l, :d, :n) ON CONFLICT (member_id) DO UPDATE SET goal = :g, level = :l, "
                      "days_per_week = :d, minutes_per_session = :n, updated_at = now()"),
                 {"m": member_id, "g": profile.goal, "l": profile.level, "d": profile.days_per_week,
                  "n": profile.minutes_per_session})


def delete_profile(conn, member_id: int) -> int:
    return conn.execute(text("DELETE FROM assistant_profiles WHERE member_id = :m"), {"m": member_id}).rowcount
