"""The trace store: OTLP spans (as the rotel collector forwards them) kept in a PostgreSQL table.

Why PostgreSQL and not Jaeger or Phoenix: no Jaeger binary exists in any registry reachable here, and Phoenix is a
0.9 GB LLM-observability install in its own venv. PostgreSQL already runs on every machine of this project, a
span table is a few hundred lines to own, and a trace is then one indexed SQL query that tests can assert on.
The store keeps ``GYM_TRACE_RETENTION_DAYS`` (7) days; in production the same OTLP stream goes to a managed
tracing backend instead (only the collector's exporter changes).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time

import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from sqlalchemy.dialects.postgresql import JSONB, insert

metadata = sa.MetaData()
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY_BYTES = 8 * 1024 * 1024
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

spans = sa.Table(
    "otel_spans", metadata,
    sa.Column("trace_id", sa.String(32), primary_key=True),
    sa.Column("span_id", sa.String(16), primary_key=True),
    sa.Column("parent_span_id", sa.String(16)),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),  # unset | ok | error
    sa.Column("status_message", sa.Text),
    sa.Column("attributes", JSONB, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_otel_spans_start", "start_ns"),
)


class BadPayload(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest."""


def database_url() -> str:
    return os.environ.get("GYM_TELEMETRY_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/gymchain_telemetry")


def create_tables(engine: sa.Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def _value(value: AnyValue):
    field = value.WhichOneof("value")
    if field is None:
        return None
    if field == "array_value":
        return [_value(v) for v in value.array_value.values]
    if field == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if field == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, field)


def decode(body: bytes, content_type: str = "application/x-protobuf", content_encoding: str = "") -> list[dict]:
    """The spans of one OTLP/HTTP export request (protobuf or JSON, optionally gzip) as row dicts."""
    if len(body) > MAX_BODY_BYTES:
        raise BadPayload(f"body of {len(body)} bytes: at most {MAX_BODY_BYTES}")
    if content_encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise BadPayload(f"Content-Encoding gzip: {exc}") from None
    request = ExportTraceServiceRequest()
    try:
        if content_type.startswith("application/json"):
            from google.protobuf import json_format

            json_format.Parse(body.decode(), request)
        else:
            request.ParseFromString(body)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types; all mean "not OTLP"
        raise BadPayload(f"not an OTLP ExportTraceServiceRequest ({type(exc).__name__})") from None
    rows = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "unknown"))[:200]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                status = {0: "unset", 1: "ok", 2: "error"}.get(span.status.code, "unset")
                rows.append({
                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex() or None, "service": service,
                    "name": span.name[:300], "kind": KINDS.get(span.kind, "unspecified"),
                    "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano, "status": status,
                    "status_message": span.status.message or None,
                    "attributes": json.loads(json.dumps({kv.key: _value(kv.value) for kv in span.attributes},
                                                        default=str)),
                })
    return rows


def store(engine: sa.Engine, rows: list[dict]) -> int:
    """Insert spans (a span sent twice by a retrying collector is kept once); returns how many were given."""
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(spans).values(rows).on_conflict_do_nothing())
    return len(rows)


def purge(engine: sa.Engine, days: float | None = None) -> int:
    days = float(os.environ.get("GYM_TRACE_RETENTION_DAYS", "7")) if days is None else days
    cutoff = int((time.time() - days * 86400) * 1e9)
    with engine.begin() as conn:
        return conn.execute(spans.delete().where(spans.c.start_ns < cutoff)).rowcount


def trace(engine: sa.Engine, trace_id: str) -> list[dict]:
    """Every span of a trace, in start order; ValueError on a malformed id."""
    if not TRACE_ID.match(trace_id or ""):
        raise ValueError(f"trace id {trace_id!r}: expected 32 lowercase hex digits")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(spans).where(spans.c.trace_id == trace_id).order_by(spans.c.start_ns)).all()
    return [dict(row._mapping) | {"duration_ms": (row.end_ns - row.start_ns) / 1e6} for row in rows]


def recent_traces(engine: sa.Engine, *, limit: int = 50, service: str | None = None,
                  errors_only: bool = False) -> list[dict]:
    """One line per recent trace: root span name, services, span count, duration, error flag."""
    condition = sa.true()
    if service:
        condition = spans.c.trace_id.in_(sa.select(spans.c.trace_id).where(spans.c.service == service))
    grouped = (sa.select(spans.c.trace_id, sa.func.min(spans.c.start_ns).label("start_ns"),
                         sa.func.max(spans.c.end_ns).label("end_ns"), sa.func.count().label("spans"),
                         sa.func.array_agg(sa.distinct(spans.c.service)).label("services"),
                         sa.func.bool_or(spans.c.status == "error").label("error"))
               .where(condition).group_by(spans.c.trace_id))
    if errors_only:
        grouped = grouped.having(sa.func.bool_or(spans.c.status == "error"))
    grouped = grouped.order_by(sa.desc("start_ns")).limit(limit).subquery()
    root = (sa.select(spans.c.name).where(spans.c.trace_id == grouped.c.trace_id)
            .order_by(spans.c.parent_span_id.is_not(None), spans.c.start_ns).limit(1).scalar_subquery())
    with engine.connect() as conn:
        rows = conn.execute(sa.select(grouped, root.label("root")).order_by(grouped.c.start_ns.desc())).all()
    return [{"trace_id": r.trace_id, "root": r.root, "services": sorted(r.services), "spans": r.spans,
             "start_ns": r.start_ns, "duration_ms": (r.end_ns - r.start_ns) / 1e6, "error": bool(r.error)}
            for r in rows]
