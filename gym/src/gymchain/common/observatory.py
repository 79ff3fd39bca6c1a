"""The observatory (``python -m gymchain.common.observatory``, port 8290): what stands in for Jaeger and Grafana here.

- ``POST /v1/traces``: OTLP/HTTP receiver; the rotel collector forwards every process's spans here, and they are
  kept in PostgreSQL (:mod:`gymchain.common.tracestore`).
- ``GET /traces`` and ``/traces/{trace_id}``: recent traces and one trace as a waterfall, with the central log
  records of that trace underneath (``/api/traces...`` give the same as JSON).
- ``GET /dashboard``: the Grafana dashboard of ``gym/observability/grafana`` rendered from the local Prometheus'
  HTTP API (the panel queries are read from the Grafana JSON itself), with the firing alerts.
- ``GET /metrics``: queue depth, consumer lag and outbox backlog, read at scrape time
  (:mod:`gymchain.common.infra_metrics`).

It binds to 127.0.0.1 only and has no login, like the Prometheus UI it sits beside: it is an operator tool on
the host (production uses the managed equivalents; see gym/docs/observability.md).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import time
from pathlib import Path
from typing import Annotated

import httpx
import sqlalchemy as sa
from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from gymchain.common import logs, tracestore
from gymchain.common.errors import ApiError, NotFound
from gymchain.common.http import create_app

GYM_DIR = Path(__file__).resolve().parents[3]
DASHBOARD_JSON = Path(os.environ.get("GYM_GRAFANA_DASHBOARD",
                                     GYM_DIR / "observability" / "grafana" / "dashboards" / "gymchain-overview.json"))
PURGE_EVERY_S = 3600

app = create_app("observatory", __doc__.split("\n\n", 1)[1].split("\n\nIt binds")[0])


class BadRequest(ApiError):
    status = 400


def prometheus_url() -> str:
    return os.environ.get("GYM_PROMETHEUS_URL", "http://127.0.0.1:8291").rstrip("/")


def engine() -> sa.Engine:
    if not hasattr(app.state, "engine"):
        app.state.engine = sa.create_engine(tracestore.database_url(), pool_pre_ping=True, pool_size=2)
        tracestore.create_tables(app.state.engine)
        app.state.purged_at = 0.0
    return app.state.engine


@app.post("/v1/traces", include_in_schema=False)
async def receive_traces(request: Request) -> Response:
    """OTLP/HTTP traces (protobuf or JSON, gzip allowed) from the collector."""
    body = await request.body()
    try:
        rows = tracestore.decode(body, request.headers.get("content-type", "application/x-protobuf"),
                                 request.headers.get("content-encoding", ""))
    except tracestore.BadPayload as exc:
        raise BadRequest(f"/v1/traces: {exc}") from None
    store = engine()
    tracestore.store(store, rows)
    if time.monotonic() - app.state.purged_at > PURGE_EVERY_S:
        app.state.purged_at = time.monotonic()
        tracestore.purge(store)
    return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")


Limit = Annotated[int, Query(ge=1, le=500)]
Service = Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9 ._-]+$")]


@app.get("/api/traces", tags=["traces"], summary="Recent traces (root span, services, spans, duration)")
def api_traces(limit: Limit = 50, service: Service = None, errors: bool = False) -> list[dict]:
    return tracestore.recent_traces(engine(), limit=limit, service=service, errors_only=errors)


def trace_or_404(trace_id: str) -> list[dict]:
    try:
        found = tracestore.trace(engine(), trace_id)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not found:
        raise NotFound(f"trace {trace_id} not found (spans arrive a few seconds after the request)")
    return found


@app.get("/api/traces/{trace_id}", tags=["traces"], summary="Every span of one trace, in start order")
def api_trace(trace_id: str) -> list[dict]:
    return trace_or_404(trace_id)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:1.5em;color:#1d2733}} a{{color:#0b5cad}}
table{{border-collapse:collapse}} td,th{{padding:.25em .6em;border-bottom:1px solid #dde;text-align:left}}
.bar{{height:14px;background:#3b7dd8;border-radius:2px;min-width:2px}} .err{{background:#c62828}}
.err-t{{color:#c62828;font-weight:600}} nav a{{margin-right:1em}} code{{font-size:12px}}
.panels{{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1em}}
.panel{{border:1px solid #dde;border-radius:6px;padding:.5em}} .panel h3{{margin:.2em 0;font-size:14px}}
svg text{{font-size:10px;fill:#445}}</style></head><body>
<nav><a href="/dashboard">Dashboard</a><a href="/traces">Traces</a>
<a href="{prometheus}/classic/alerts">Prometheus alerts</a></nav><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body, prometheus=html.escape(prometheus_url())))


@app.get("/traces", response_class=HTMLResponse, include_in_schema=False)
def traces_page(limit: Limit = 50, service: Service = None, errors: bool = False) -> HTMLResponse:
    rows = tracestore.recent_traces(engine(), limit=limit, service=service, errors_only=errors)
    lines = "".join(
        f"<tr><td><a href='/traces/{r['trace_id']}'><code>{r['trace_id']}</code></a></td>"
        f"<td class='{'err-t' if r['error'] else ''}'>{html.escape(r['root'] or '?')}</td>"
        f"<td>{html.escape(', '.join(r['services']))}</td><td>{r['spans']}</td><td>{r['duration_ms']:.1f} ms</td>"
        f"<td>{time.strftime('%H:%M:%S', time.localtime(r['start_ns'] / 1e9))}</td></tr>" for r in rows)
    body = (f"<p>{len(rows)} most recent traces{' with errors' if errors else ''}. "
            "<a href='/traces?errors=true'>errors only</a></p><table><tr><th>trace</th><th>root span</th>"
            f"<th>services</th><th>spans</th><th>duration</th><th>start</th></tr>{lines}</table>")
    return page("Traces", body)


@app.get("/traces/{trace_id}", response_class=HTMLResponse, include_in_schema=False)
def trace_page(trace_id: str) -> HTMLResponse:
    found = trace_or_404(trace_id)
    start = min(s["start_ns"] for s in found)
    total = max(max(s["end_ns"] for s in found) - start, 1)
    depth: dict[str, int] = {}
    for span in found:  # parents start before their children: one pass gives the nesting depth
        depth[span["span_id"]] = depth.get(span["parent_span_id"], -1) + 1 if span["parent_span_id"] else 0
    rows = "".join(
        f"<tr><td style='padding-left:{0.6 + 1.2 * depth[s['span_id']]}em'>{html.escape(s['name'])}"
        f" <small>({s['kind']})</small></td><td>{html.escape(s['service'])}</td><td style='width:40%'>"
        f"<div class='bar{' err' if s['status'] == 'error' else ''}' style='margin-left:"
        f"{100 * (s['start_ns'] - start) / total:.2f}%;width:{100 * (s['end_ns'] - s['start_ns']) / total:.2f}%'>"
        f"</div></td><td>{s['duration_ms']:.2f} ms</td><td><code>{s['span_id']}</code></td></tr>" for s in found)
    try:
        records = logs.query(logs.central_log_path(), trace_id=trace_id, limit=200)
    except FileNotFoundError:
        records = []
    log_rows = "".join(f"<tr><td>{html.escape(r.get('ts', ''))}</td><td>{html.escape(r.get('service', ''))}</td>"
                       f"<td>{html.escape(r.get('level', ''))}</td><td>{html.escape(r.get('msg', ''))}</td></tr>"
                       for r in records)
    body = (f"<p><code>{trace_id}</code>: {len(found)} spans over {total / 1e6:.1f} ms, services "
            f"{html.escape(', '.join(sorted({s['service'] for s in found})))}.</p><table><tr><th>span</th>"
            f"<th>service</th><th>timeline</th><th>duration</th><th>span id</th></tr>{rows}</table>"
            f"<h2>Logs of this trace ({len(records)})</h2><table>{log_rows}</table>")
    return page("Trace", body)


def dashboard_panels() -> list[dict]:
    """The panels of the provisioned Grafana dashboard: title, unit and PromQL targets."""
    board = json.loads(DASHBOARD_JSON.read_text())
    panels = []
    for panel in board["panels"]:
        if panel.get("type") == "row":
            continue
        panels.append({"title": panel["title"], "unit": panel.get("fieldConfig", {}).get("defaults", {}).get(
            "unit", "short"), "targets": [{"expr": t["expr"], "legend": t.get("legendFormat", "")}
                                          for t in panel.get("targets", [])]})
    return panels


def finite(value: str) -> float | None:
    """A sample value, None for NaN/Inf (0/0 error ratios with no traffic): JSON has no NaN."""
    number = float(value)
    return number if math.isfinite(number) else None


def legend(template: str, labels: dict) -> str:
    out = template or ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
    return out or "value"


@app.get("/api/dashboard", tags=["dashboard"], summary="Every panel's series over the last N minutes")
def api_dashboard(minutes: Annotated[int, Query(ge=5, le=1440)] = 30) -> JSONResponse:
    end = time.time()
    start, step = end - minutes * 60, max(15, minutes * 60 // 120)
    panels = []
    with httpx.Client(base_url=prometheus_url(), timeout=10) as client:
        try:
            alerts = client.get("/api/v1/alerts").json()["data"]["alerts"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return JSONResponse({"detail": f"Prometheus at {prometheus_url()} unreachable ({type(exc).__name__}); "
                                 "start it with gym/scripts/start_observability.sh"}, status_code=503)
        for panel in dashboard_panels():
            series = []
            for target in panel["targets"]:
                answer = client.get("/api/v1/query_range", params={"query": target["expr"], "start": start,
                                                                   "end": end, "step": step}).json()
                if answer.get("status") != "success":
                    series.append({"name": f"error: {answer.get('error', '?')}", "points": []})
                    continue
                for result in answer["data"]["result"][:12]:
                    series.append({"name": legend(target["legend"], result["metric"]),
                                   "points": [[float(t), finite(v)] for t, v in result["values"]]})
            panels.append({"title": panel["title"], "unit": panel["unit"], "series": series})
    return JSONResponse({"start": start, "end": end, "panels": panels,
                         "alerts": [{"name": a["labels"].get("alertname"), "state": a["state"],
                                     "severity": a["labels"].get("severity", ""),
                                     "summary": a.get("annotations", {}).get("summary", "")} for a in alerts]})


DASHBOARD_JS = """
const COLORS = ['#3b7dd8', '#e07b00', '#2e9e4f', '#c62828', '#7b4fd0', '#00838f', '#8d6e63', '#d81b60'];
function fmt(v, unit) {
  if (unit === 's') return v < 1 ? (v * 1000).toFixed(0) + ' ms' : v.toFixed(2) + ' s';
  if (unit === 'percentunit') return (v * 100).toFixed(1) + '%';
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}
function chart(panel, start, end) {
  const W = 440, H = 160, L = 52, B = 18;
  const pts = panel.series.flatMap(s => s.points.map(p => p[1])).filter(Number.isFinite);
  const max = Math.max(1e-9, ...pts), min = Math.min(0, ...pts);
  const x = t => L + (W - L - 4) * (t - start) / (end - start);
  const y = v => 4 + (H - B - 8) * (1 - (v - min) / (max - min));
  let svg = `<svg width="${W}" height="${H + 14 * panel.series.length}" role="img" aria-label="${panel.title}">`;
  svg += `<line x1="${L}" y1="${H - B}" x2="${W}" y2="${H - B}" stroke="#99a"/>`;
  svg += `<text x="2" y="12">${fmt(max, panel.unit)}</text><text x="2" y="${H - B}">${fmt(min, panel.unit)}</text>`;
  panel.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.filter(p => Number.isFinite(p[1])).map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    if (d.length) svg += `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${d.join(' ')}"/>`;
    const last = s.points.length ? fmt(s.points[s.points.length - 1][1], panel.unit) : 'no data';
    svg += `<text x="${L}" y="${H + 12 * (i + 1)}" fill="${c}">■ ${s.name}: ${last}</text>`;
  });
  if (!panel.series.length) svg += `<text x="${L + 10}" y="${H / 2}">no data</text>`;
  return svg + '</svg>';
}
async function load() {
  const minutes = document.getElementById('minutes').value;
  const answer = await fetch('/api/dashboard?minutes=' + minutes);
  const data = await answer.json();
  const status = document.getElementById('status');
  if (!answer.ok) { status.textContent = data.detail; return; }
  const firing = data.alerts.filter(a => a.state === 'firing');
  status.innerHTML = firing.length ? firing.map(a => `<span class="err-t">FIRING ${a.name}</span> ${a.summary}`).join('<br>')
                                   : `No alert firing (${data.alerts.length} pending).`;
  document.getElementById('panels').innerHTML = data.panels.map(p =>
    `<div class="panel" data-title="${p.title}"><h3>${p.title}</h3>${chart(p, data.start, data.end)}</div>`).join('');
  document.body.dataset.loaded = 'yes';
}
document.getElementById('minutes').addEventListener('change', load);
load(); setInterval(load, 15000);
"""


@app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page() -> HTMLResponse:
    body = ("<p>Panels of the provisioned Grafana dashboard (<code>gym/observability/grafana</code>), queried "
            "from the local Prometheus. Window <select id='minutes'><option>15</option><option selected>30"
            "</option><option>60</option><option>360</option></select> minutes, refreshed every 15 s.</p>"
            f"<p id='status'>loading…</p><div id='panels' class='panels'></div><script>{DASHBOARD_JS}</script>")
    return page("gymchain dashboard", body)


def install_infra_collector() -> None:
    from prometheus_client import REGISTRY

    from gymchain.common.infra_metrics import InfraCollector
    from gymchain.common.settings import get_settings

    settings = get_settings()
    REGISTRY.register(InfraCollector(rabbit_url=settings.rabbit_url, queue_suffix=settings.rabbit_queue_suffix,
                                     bootstrap=settings.kafka_bootstrap, database_url=settings.database_url))


def main(argv: list[str] | None = None) -> int:
    """``python -m gymchain.common.observatory``: trace store, dashboard and infrastructure metrics."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m gymchain.common.observatory", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8290, help="port on 127.0.0.1 (default 8290)")
    parser.add_argument("--no-infra", action="store_true", help="do not collect queue depth / lag / outbox metrics")
    args = parser.parse_args(argv)
    if not 1024 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 1024 to 65535")
    if not args.no_infra:
        install_infra_collector()
    engine()  # fail now (one line) rather than at the first span if the database is missing
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except sa.exc.OperationalError as exc:
        raise SystemExit(f"observatory: trace database {tracestore.database_url()} unreachable ({exc.orig})") from None
