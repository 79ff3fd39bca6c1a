"""Fixtures for the data-store, messaging and sync tests: a throw-away PostgreSQL database per test (so engineers
and CI runs never share state), per-run Redis key prefixes, RabbitMQ queue and Kafka topic suffixes.

Import the fixtures you use in a test module: ``from data_fixtures import pg_url  # noqa: F401``.
"""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest
import sqlalchemy as sa

ADMIN_DSN = os.environ.get("GYM_TEST_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SQLA_BASE = os.environ.get("GYM_TEST_SQLA_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432")


def create_database(prefix: str = "gym_test") -> str:
    """Create an empty database with a unique name; returns the name."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str) -> str:
    return f"{SQLA_BASE}/{name}"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def pg_url():
    """URL of a fresh database, dropped after the test."""
    name = create_database()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def pg_engine(pg_url):
    engine = sa.create_engine(pg_url, future=True)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def run_suffix() -> str:
    """A per-test suffix for Kafka topics, RabbitMQ queues and Redis key prefixes."""
    return f".t{os.getpid()}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("GYM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    if not port_open(int(port), host):
        pytest.fail(f"no Kafka-protocol broker on {bootstrap}: run gym/scripts/start_infra.sh first")
    return bootstrap
