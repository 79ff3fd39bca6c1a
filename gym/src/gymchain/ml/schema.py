"""The tabular schema every analytics model reads (documented in gym/docs/analytics.md).

A real chain's export fills it as one CSV file per table; the simulator and the PostgreSQL loader produce the same
DataFrames. ``validate`` turns any table into the exact dtypes and raises ``SchemaError`` naming the table, the
column and the offending value.
"""

from __future__ import annotations

import pandas as pd

# table -> column -> kind ("int", "str", "date", "datetime", "float"); a trailing "?" means nullable
SCHEMA: dict[str, dict[str, str]] = {
    "members": {"member_id": "int", "unit_id": "int", "joined_on": "date"},
    "contracts": {"contract_id": "int", "member_id": "int", "unit_id": "int", "plan_code": "str",
                  "contract_type": "str", "starts_on": "date", "cancelled_on": "date?", "campaign": "str?"},
    "contract_prices": {"contract_id": "int", "effective_from": "date", "monthly_price": "float"},
    "visits": {"member_id": "int", "unit_id": "int", "visited_at": "datetime"},
    "bookings": {"member_id": "int", "unit_id": "int", "class_type": "str", "class_starts_at": "datetime",
                 "status": "str"},
}
CONTRACT_TYPES = {"monthly", "annual"}
BOOKING_STATUSES = {"booked", "waitlisted", "cancelled"}


class SchemaError(ValueError):
    """A table does not follow the schema; the message is one line naming table, column and value."""


def validate(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table with exactly the schema's columns in the schema's dtypes."""
    columns = SCHEMA[name]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        out[column] = _convert(name, column, kind, frame[column])
    if name == "contracts":
        _check_values(name, "contract_type", out.contract_type, CONTRACT_TYPES)
    if name == "bookings":
        _check_values(name, "status", out.status, BOOKING_STATUSES)
    return out.reset_index(drop=True)


def _convert(table: str, column: str, kind: str, values: pd.Series) -> pd.Series:
    nullable = kind.endswith("?")
    kind = kind.rstrip("?")
    if kind == "str":
        converted = values.astype(object).where(values.notna(), None)
    elif kind == "int":
        converted = pd.to_numeric(values, errors="coerce")
        converted = converted.where(converted == converted.round())
    elif kind == "float":
        converted = pd.to_numeric(values, errors="coerce")
    else:
        converted = pd.to_datetime(values, errors="coerce", utc=False)
        if getattr(converted.dt, "tz", None) is not None:
            converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
        if kind == "date":
            converted = converted.dt.normalize()
        converted = converted.astype("datetime64[ns]")
    if kind != "str":
        bad = converted.isna() & (values.notna() | (not nullable))
        if bad.any():
            first = values[bad].iloc[0]
            raise SchemaError(f"{table}.{column}: value {first!r} (row {int(bad.to_numpy().argmax())}) is not a "
                              f"valid {kind}{'' if not nullable else ' or empty'}")
        if kind == "int":
            converted = converted.astype("int64")
    elif not nullable and converted.isna().any():
        raise SchemaError(f"{table}.{column}: empty value in row {int(converted.isna().to_numpy().argmax())}; "
                          "expected text")
    return converted


def _check_values(table: str, column: str, values: pd.Series, allowed: set[str]) -> None:
    bad = ~values.isin(allowed)
    if bad.any():
        raise SchemaError(f"{table}.{column}: value {values[bad].iloc[0]!r} is not one of {sorted(allowed)}")
