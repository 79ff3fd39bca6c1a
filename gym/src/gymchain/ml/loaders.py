"""Loaders into the analytics schema: a folder of CSV files (a chain's export) or the platform's PostgreSQL tables.

Both return ``{table: DataFrame}`` validated by ``gymchain.ml.schema.validate``; models never see simulator objects.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .schema import SCHEMA, SchemaError, validate


def write_csv_dir(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    """One ``<table>.csv`` per schema table (plus any extra table given, e.g. the simulator's ``truth``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S")


def load_csv_dir(folder: str | Path) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SchemaError(f"{folder}: not a folder; expected one CSV file per table ({', '.join(SCHEMA)})")
    tables = {}
    for name in SCHEMA:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise SchemaError(f"{path}: missing; expected a CSV with columns {', '.join(SCHEMA[name])}")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise SchemaError(f"{path}: not readable as CSV ({str(exc).splitlines()[0]})") from None
        try:
            tables[name] = validate(name, frame)
        except SchemaError as exc:
            raise SchemaError(f"{path}: {exc}") from None
    return tables


def validate_all(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: validate(name, tables[name]) for name in SCHEMA}


PG_QUERIES = {
    "members": """
        SELECT m.id AS member_id, m.unit_id, COALESCE(MIN(c.starts_on), m.created_at::date) AS joined_on
        FROM members m LEFT JOIN contracts c ON c.member_id = m.id
        WHERE m.erased_at IS NULL {unit_m} GROUP BY m.id""",
    "contracts": """
        SELECT c.id AS contract_id, c.member_id, c.unit_id, p.code AS plan_code,
               CASE WHEN c.ends_on - c.starts_on >= 330 THEN 'annual' ELSE 'monthly' END AS contract_type,
               c.starts_on, CASE WHEN c.status <> 'active' THEN c.ends_on END AS cancelled_on, NULL AS campaign
        FROM contracts c JOIN plans p ON p.id = c.plan_id JOIN members m ON m.id = c.member_id
        WHERE m.erased_at IS NULL {unit_m}""",
    "contract_prices": """
        SELECT c.id AS contract_id, c.starts_on AS effective_from, c.monthly_price_cents / 100.0 AS monthly_price
        FROM contracts c JOIN members m ON m.id = c.member_id WHERE m.erased_at IS NULL {unit_m}""",
    "visits": """
        SELECT k.member_id, k.unit_id, k.checked_in_at AS visited_at
        FROM checkins k JOIN members m ON m.id = k.member_id
        WHERE m.erased_at IS NULL AND k.checked_in_at >= :since {unit_m}""",
    "bookings": """
        SELECT b.member_id, s.unit_id, s.title AS class_type, s.starts_at AS class_starts_at,
               CASE b.status WHEN 'confirmed' THEN 'booked' ELSE b.status END AS status
        FROM bookings b JOIN class_sessions s ON s.id = b.class_id JOIN members m ON m.id = b.member_id
        WHERE m.erased_at IS NULL AND s.starts_at >= :since {unit_m}""",
}


def load_postgres(engine: sa.Engine, since: str = "1900-01-01", unit_id: int | None = None,
                  member_ids: list[int] | None = None) -> dict[str, pd.DataFrame]:
    """The platform's members, contracts, check-ins and bookings (part 1 tables) in the analytics schema.

    A contract that is no longer ``active`` counts as stopped on its ``ends_on``; one of 330+ days is 'annual'.
    ``since`` bounds the event tables; ``unit_id`` / ``member_ids`` restrict the members read.
    """
    where = ""
    params: dict[str, object] = {"since": since}
    if unit_id is not None:
        where += " AND m.unit_id = :unit_id"
        params["unit_id"] = unit_id
    if member_ids is not None:
        where += " AND m.id = ANY(:member_ids)"
        params["member_ids"] = list(member_ids)
    tables = {}
    with engine.connect() as conn:
        for name, query in PG_QUERIES.items():
            result = conn.execute(sa.text(query.format(unit_m=where)), params)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            if frame.empty:
                frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SCHEMA[name]})
            tables[name] = validate(name, frame)
    return tables
