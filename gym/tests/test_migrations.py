"""Alembic: upgrade to every head, downgrade to base, upgrade again, on a database of its own."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from conftest import create_database, drop_database

CORE_TABLES = {"units", "areas", "members", "plans", "contracts", "class_sessions", "bookings", "checkins",
               "users", "refresh_tokens", "audit_log"}


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade():
    from gymchain.migrations import downgrade, upgrade

    name = f"gym_migr_{secrets.token_hex(4)}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    create_database(name)
    try:
        upgrade(url)
        assert CORE_TABLES <= tables(url) and "outbox_events" in tables(url)
        downgrade(url, "base")
        assert tables(url) <= {"alembic_version"}
        upgrade(url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            heads = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("bookings")}
        engine.dispose()
        assert "0001_core" in heads or any(h.startswith("0") for h in heads)
        assert "uq_bookings_live" in indexes
    finally:
        drop_database(name)


def test_models_match_the_migrations(database_url):
    """Autogenerate finds nothing to add or drop for the core tables: the ORM and the revisions agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import gymchain.auth.models
    import gymchain.common.audit
    import gymchain.members.models  # noqa: F401
    from gymchain.common.db import Base

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    core = [d for d in diff if any(t in str(d) for t in CORE_TABLES)]
    assert core == []
