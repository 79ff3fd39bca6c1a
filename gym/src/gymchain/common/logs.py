"""Structured logs: one JSON object per record, with service, request id, trace id and span id, shipped centrally.

:func:`configure` (called by ``create_app`` and by the worker/relay entry points) installs on the root logger:

- stderr: JSON lines (``GYM_LOG_FORMAT=text`` keeps the older one-line text format for a terminal);
- when ``GYM_SYSLOG_ADDRESS`` is ``host:port`` (``gymchain up`` sets it while the local stack runs), the same JSON
  sent over UDP syslog to the central rsyslog (``gym/observability/rsyslog-gym.conf``), which appends every
  process's records to one JSON-lines file. UDP never blocks a request: if rsyslog is down, records are dropped
  there and still written to stderr.

:func:`query` reads that central file (``gymchain logs --trace-id ...``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from gymchain.common.tracing import current_ids

RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id", "trace_id",
                                                                      "span_id"}
JSON_SCALARS = (str, int, float, bool, type(None))
MAX_EXC_CHARS = 4000  # a record stays well under rsyslog's maxMessageSize (64 KiB in our config)
NOISY_LOGGERS = ("pika", "httpx", "httpcore")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ContextFilter(logging.Filter):
    """Put the request id and the current trace/span ids on every record."""

    request_id = None

    def filter(self, record: logging.LogRecord) -> bool:
        if ContextFilter.request_id is None:  # imported on first use: http imports this module
            from gymchain.common.http import current_request_id

            ContextFilter.request_id = current_request_id
        record.request_id = ContextFilter.request_id.get()
        record.trace_id, record.span_id = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "service", "logger", "msg", "request_id", "trace_id", "span_id", ...extra}``."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "service": self.service, "logger": record.name,
               "msg": record.getMessage()}
        for key in ("request_id", "trace_id", "span_id"):
            value = getattr(record, key, "")
            if value and value != "-":
                out[key] = value
        for key, value in vars(record).items():  # the caller's extra={...}, in the order given
            if key not in RESERVED and key not in out:
                out[key] = value if isinstance(value, JSON_SCALARS) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)[-MAX_EXC_CHARS:]
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(service: str, level: int = logging.INFO) -> None:
    """Install the stderr (and, if configured, syslog) handlers on the root logger once per process."""
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    for handler in list(root.handlers):  # a basicConfig() done earlier would print every record twice
        if type(handler) is logging.StreamHandler:  # (pytest's capture handlers are subclasses: kept)
            root.removeHandler(handler)
    context = ContextFilter()
    stderr = logging.StreamHandler()
    if os.environ.get("GYM_LOG_FORMAT", "json") == "text":
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    else:
        stderr.setFormatter(JsonFormatter(service))
    stderr.addFilter(context)
    root.addHandler(stderr)
    address = os.environ.get("GYM_SYSLOG_ADDRESS", "")
    if address:
        host, _, port = address.rpartition(":")
        syslog = logging.handlers.SysLogHandler(address=(host or "127.0.0.1", int(port)),
                                                facility=logging.handlers.SysLogHandler.LOG_LOCAL0)
        syslog.ident = "gymchain: "  # rsyslog's programname; the JSON follows
        syslog.setFormatter(JsonFormatter(service))
        syslog.addFilter(context)
        root.addHandler(syslog)
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:  # per-connection / per-request INFO lines that would drown the central log
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def central_log_path() -> Path:
    """The central JSON-lines file written by rsyslog (``GYM_CENTRAL_LOG`` or ``gym/.run/logs/gymchain.jsonl``)."""
    default = Path(__file__).resolve().parents[3] / ".run" / "logs" / "gymchain.jsonl"
    return Path(os.environ.get("GYM_CENTRAL_LOG", str(default)))


def read_records(lines: Iterable[str]) -> Iterator[dict]:
    """Parse JSON lines; lines that are not a JSON object are skipped (rsyslog's own notices, cut records)."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def query(path: Path, *, trace_id: str | None = None, request_id: str | None = None, service: str | None = None,
          level: str | None = None, since: dt.datetime | None = None, contains: str | None = None,
          limit: int = 200) -> list[dict]:
    """Records of the central log that match every given filter, oldest first, at most ``limit`` (the newest)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no central log (start it with gym/scripts/start_observability.sh)")
    minimum = LEVELS.index(level) if level else 0
    found: list[dict] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for record in read_records(handle):
            if trace_id and record.get("trace_id") != trace_id:
                continue
            if request_id and record.get("request_id") != request_id:
                continue
            if service and record.get("service") != service:
                continue
            if level and (record.get("level") not in LEVELS or LEVELS.index(record["level"]) < minimum):
                continue
            if contains and contains not in record.get("msg", ""):
                continue
            if since:
                try:
                    if dt.datetime.fromisoformat(record["ts"]) < since:
                        continue
                except (KeyError, ValueError):
                    continue
            found.append(record)
            if len(found) > limit:
                found.pop(0)
    return found


def add_arguments(parser) -> None:
    parser.add_argument("--trace-id", help="32 hex digits (the trace id printed in every record and trace view)")
    parser.add_argument("--request-id", help="the X-Request-ID of a request")
    parser.add_argument("--service", help="e.g. gateway, members, worker-report-generation, outbox-relay")
    parser.add_argument("--level", choices=LEVELS, help="this level and above")
    parser.add_argument("--grep", metavar="TEXT", help="records whose message contains TEXT")
    parser.add_argument("--since", metavar="ISO_TIME", help="records at or after this time (with a timezone)")
    parser.add_argument("--limit", type=int, default=200, help="the newest N matches (1-100000, default 200)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON lines")
    parser.add_argument("--file", help="the central log file (default: GYM_CENTRAL_LOG or gym/.run/logs/gymchain.jsonl)")


def print_query(args) -> int:
    """``gymchain logs``: print the matching records (one line each, or JSON); 1 with a one-line error."""
    import re
    import sys

    def fail(message: str) -> int:
        print(f"gymchain logs: {message}", file=sys.stderr)
        return 1

    if args.trace_id and not re.fullmatch(r"[0-9a-f]{32}", args.trace_id):
        return fail(f"--trace-id {args.trace_id!r}: expected 32 lowercase hex digits")
    if not 1 <= args.limit <= 100_000:
        return fail(f"--limit {args.limit}: expected 1 to 100000")
    since = None
    if args.since:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            return fail(f"--since {args.since!r}: expected an ISO-8601 time such as 2026-12-06T21:00:00+00:00")
        if since.tzinfo is None:
            return fail(f"--since {args.since!r}: expected a timezone (e.g. +00:00)")
    path = Path(args.file) if args.file else central_log_path()
    try:
        records = query(path, trace_id=args.trace_id, request_id=args.request_id, service=args.service,
                        level=args.level, since=since, contains=args.grep, limit=args.limit)
    except FileNotFoundError as exc:
        return fail(str(exc))
    for record in records:
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        extra = " ".join(f"{k}={record[k]}" for k in ("route", "status", "duration_ms", "event_id") if k in record)
        print(f"{record.get('ts', '?')} {record.get('level', '?'):<7} {record.get('service', '?'):<18} "
              f"{record.get('msg', '')}{'  ' + extra if extra else ''}  [trace {record.get('trace_id', '-')}]")
    if not records:
        print("no matching records", file=sys.stderr)
    return 0
