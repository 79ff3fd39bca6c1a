"""Where a worker job reads its data: the platform's PostgreSQL (default) or a chain's CSV export.

A job payload carries ``{"source": "platform"}`` or ``{"source": "csv", "path": DIR}``. Only internal producers
(the drift monitor, the CLI, the benchmark) set ``csv``; the API never lets a caller name a path. A CSV folder is
read once per worker process and kept while its files are unchanged (same modification times).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .loaders import load_csv_dir, load_postgres
from .schema import SchemaError

_CSV_CACHE: dict[str, tuple[tuple, dict]] = {}
HISTORY_DAYS = 400


def load_service_purchases(folder: Path) -> pd.DataFrame | None:
    """The optional ``service_purchases.csv`` (member_id, unit_id, service, bought_at), validated."""
    path = folder / "service_purchases.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    missing = {"member_id", "unit_id", "service", "bought_at"} - set(frame.columns)
    if missing:
        raise SchemaError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    out = pd.DataFrame({"member_id": pd.to_numeric(frame.member_id, errors="coerce"),
                        "unit_id": pd.to_numeric(frame.unit_id, errors="coerce"), "service": frame.service,
                        "bought_at": pd.to_datetime(frame.bought_at, errors="coerce")})
    bad = out.isna().any(axis=1)
    if bad.any():
        raise SchemaError(f"{path}: row {int(bad.to_numpy().argmax())} has an empty or invalid value")
    return out.astype({"member_id": "int64", "unit_id": "int64"})


def load_source(payload: dict, engine: sa.Engine, unit_id: int | None = None) -> tuple[dict, str]:
    """(tables, description) for a job payload."""
    source = payload.get("source", "platform")
    if source == "platform":
        since = (datetime.now(UTC) - timedelta(days=HISTORY_DAYS * 2)).date().isoformat()
        return load_postgres(engine, since=since, unit_id=unit_id), "platform database"
    if source != "csv":
        raise ValueError(f"source {source!r}: expected 'platform' or 'csv'")
    folder = Path(str(payload.get("path", "")))
    if not folder.is_dir():
        raise ValueError(f"source csv: path {str(folder)!r} is not a folder")
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.csv")))
    cached = _CSV_CACHE.get(str(folder))
    if cached is None or cached[0] != stamp:
        tables = load_csv_dir(folder)
        services = load_service_purchases(folder)
        if services is not None:
            tables["service_purchases"] = services
        _CSV_CACHE.clear()
        _CSV_CACHE[str(folder)] = (stamp, tables)
    tables = _CSV_CACHE[str(folder)][1]
    if unit_id is not None:
        members = tables["members"].member_id[tables["members"].unit_id == unit_id]
        tables = {name: frame[frame.member_id.isin(members)] if "member_id" in frame else frame
                  for name, frame in tables.items()}
    return tables, f"csv:{folder}"
