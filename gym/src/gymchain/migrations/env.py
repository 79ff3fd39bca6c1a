"""Alembic runtime environment: online migrations against ``config.attributes['database_url']``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import gymchain.auth.models
import gymchain.common.audit
import gymchain.members.models  # noqa: F401
from gymchain.common.db import Base
from gymchain.common.settings import get_settings

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or get_settings().database_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gymchain migrations run online only (they need a database connection)")
run_migrations_online()
