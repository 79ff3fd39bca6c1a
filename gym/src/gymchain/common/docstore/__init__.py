"""The document store: assistant conversations, vision events, member notes, equipment manuals, job status.

``get_collection(name)`` returns a collection shaped like pymongo's (``insert_one``/``insert_many``, ``find`` with
``sort``/``skip``/``limit``, ``find_one``, ``count_documents``, ``update_one``/``update_many`` with
``$set``/``$inc``/``$push``/``$unset``, ``delete_one``/``delete_many``, ``aggregate`` with ``$match``, ``$group``,
``$count``, ``$sort``, ``$skip``, ``$limit``). By default it lives in PostgreSQL JSONB (:mod:`.postgres`);
``GYM_DOCSTORE_BACKEND=mongo`` with ``GYM_MONGO_URL`` uses a MongoDB instead (:mod:`.mongo`). Documents are
JSON: timezone-aware datetimes are stored as UTC ISO-8601 strings and ``_id`` is a string. See
``gym/docs/data-and-messaging.md``.
"""

from __future__ import annotations

from functools import lru_cache

from gymchain.common.docstore.postgres import PgCollection
from gymchain.common.docstore.query import QueryError
from gymchain.common.docstore.table import create_documents_table, documents_table

COLLECTIONS = ("assistant_conversations", "vision_events", "member_notes", "equipment_manuals", "jobs")

__all__ = ["COLLECTIONS", "QueryError", "create_documents_table", "documents_table", "get_collection"]


@lru_cache
def _mongo_database(url: str):
    from gymchain.common.docstore.mongo import connect

    return connect(url)


def get_collection(name: str, bind=None):
    """The collection ``name`` on the configured backend; ``bind`` (Engine or Connection) picks the PostgreSQL
    database or joins the caller's transaction (default: the settings' database)."""
    from gymchain.common.settings import get_settings

    if name not in COLLECTIONS:
        raise QueryError(f"collection {name!r}: expected one of {', '.join(COLLECTIONS)}")
    settings = get_settings()
    backend = getattr(settings, "docstore_backend", "postgres")
    if backend == "mongo":
        from gymchain.common.docstore.mongo import MongoCollection

        return MongoCollection(_mongo_database(settings.mongo_url)[name])
    if backend != "postgres":
        raise QueryError(f"GYM_DOCSTORE_BACKEND {backend!r}: expected 'postgres' or 'mongo'")
    if bind is None:
        from gymchain.common.db import get_engine

        bind = get_engine()
    return PgCollection(bind, name)
