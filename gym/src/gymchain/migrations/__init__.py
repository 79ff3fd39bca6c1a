"""Alembic environment of gymchain. Three independent branches: ``core`` (services' tables), ``datastores``
(outbox, documents, time series, sync) and ``analytics`` (model registry); ``upgrade heads`` runs them all. Use
:func:`alembic_config` or ``gymchain migrate``."""

from __future__ import annotations

from alembic.config import Config

from gymchain.common.settings import get_settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "gymchain:migrations")
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url or get_settings().database_url
    return config


def upgrade(database_url: str | None = None, target: str = "heads") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), target)


def downgrade(database_url: str | None = None, target: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), target)
