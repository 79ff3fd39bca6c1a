"""One self-contained HTML page per run: per-epoch sample grids side by side, loss curves, metric-vs-epoch curves,
FID vs sampler steps, the run's config. Every image is embedded as a base64 PNG data URI, so the page can be mailed
or attached to an issue as a single file.

Inputs are the run directory's own artifacts (written by the trainer and by `genlab.evaluation`):
``samples/epoch-*.png`` and ``final.png`` (fixed-seed grids), ``scalars.jsonl`` (training log), ``metrics.jsonl``
(`evaluate_run`), ``fid_vs_steps.json`` (`fid_vs_steps`), ``config.json`` and the snapshot header.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.evaluation import FID_VS_STEPS_FILE, METRICS_FILE, read_jsonl
from genlab.inference import find_snapshot, load, read_snapshot_header
from genlab.pretrained_api import pretrained_manifest
from genlab.report.model_card import model_card
from genlab.utils.io import atomic_write_text
from genlab.viz.grid import save_grid

__all__ = ["render_report", "report"]

_MAX_SCALAR_CHARTS = 4  # each matplotlib chart costs ~0.35 s to draw on a slow CPU
_BOOKKEEPING = {"step", "epoch", "images_seen", "images_per_s", "lr"}
_METRIC_CHARTS = (  # (title, y label, [(curve name, metrics.jsonl key)])
    ("FID vs epoch (classifier features)", "FID", [("FID", "fid"), ("real-vs-real floor", "floor_fid")]),
    ("KID vs epoch", "KID", [("KID", "kid_mean"), ("floor", "floor_kid_mean")]),
    ("Precision and recall vs epoch", "fraction", [("precision", "precision"), ("recall", "recall")]),
    ("Inception Score (domain classifier) vs epoch", "IS", [("IS", "is_mean"), ("floor", "floor_is_mean")]),
)
_TABLE_KEYS = ("epoch", "step", "num_samples", "fid", "floor_fid", "kid_mean", "is_mean", "precision", "recall")
_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.15em;
margin-top:1.6em;border-bottom:1px solid #ddd}.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;text-align:center}figcaption{font-size:.85em;color:#555}img.grid{image-rendering:pixelated}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
pre{background:#f6f6f6;padding:.8em;font-size:.8em;overflow:auto;max-height:30em}.note{color:#666;font-size:.85em}"""


# ---------------------------------------------------------------------------------------------- pieces

def data_uri(png: bytes) -> str:
    """A PNG file's bytes as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, caption: str, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return (f'<figure><img{cls} src="{data_uri(png)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def pick_evenly(items: Sequence[Any], limit: int) -> list[Any]:
    """At most `limit` items spread evenly over `items`, always keeping the first and the last."""
    if len(items) <= limit:
        return list(items)
    if limit < 2:
        return [items[-1]]
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def _grids_section(run: Path, max_grids: int) -> str:
    """Per-epoch fixed-seed grids side by side (same seeds every epoch), then the final grid."""
    epochs = sorted((run / "samples").glob("epoch-*.png"))
    shown = pick_evenly(epochs, max_grids)
    figures = [_figure(p.read_bytes(), f"epoch {int(p.stem.split('-')[1])}", "grid") for p in shown]
    final = run / "samples" / "final.png"
    if final.is_file():
        figures.append(_figure(final.read_bytes(), "final", "grid"))
    if not figures:
        return "<p class=note>No sample grids in samples/ yet.</p>"
    note = f"<p class=note>{len(shown)} of {len(epochs)} epochs shown.</p>" if len(shown) < len(epochs) else ""
    return f'{note}<div class="row">{"".join(figures)}</div>'


def _chart(curves: dict[str, tuple[list[float], list[float]]], tmp: Path, name: str, xlabel: str, ylabel: str,
           title: str, logy: bool = False) -> str:
    """A genlab.viz.plots PNG of `curves`, embedded; empty string when there is nothing to draw."""
    from genlab.viz.plots import plot_curves  # matplotlib: imported only when a report is drawn

    curves = {k: v for k, v in curves.items() if v[0]}
    if not curves:
        return ""
    path = plot_curves(curves, tmp / f"{name}.png", xlabel=xlabel, ylabel=ylabel, title=title, logy=logy)
    return _figure(path.read_bytes(), title)


def _series(rows: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    """(xs, ys) of rows where both keys hold numbers."""
    pts = [(r[x], r[y]) for r in rows if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _loss_section(run: Path, tmp: Path) -> str:
    """Training losses (every logged key containing 'loss') and a few other logged scalars, vs step."""
    rows = read_jsonl(run / "scalars.jsonl")
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in _BOOKKEEPING))
    loss_keys = [k for k in keys if "loss" in k]
    charts = [_chart({k: _series(rows, "step", k) for k in loss_keys}, tmp, "losses", "step", "loss",
                     "Training loss")]
    for i, key in enumerate([k for k in keys if k not in loss_keys][:_MAX_SCALAR_CHARTS]):
        charts.append(_chart({key: _series(rows, "step", key)}, tmp, f"scalar{i}", "step", key, key))
    body = "".join(c for c in charts if c)
    return f'<div class="row">{body}</div>' if body else "<p class=note>No scalars.jsonl yet.</p>"


def _latest_setting(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """metrics.jsonl rows made with the same settings as its last line (count, seed, split, sampler request),
    one per epoch (the last wins), sorted by epoch."""
    if not rows:
        return []
    same = ("num_samples", "seed", "split", "requested")
    last = rows[-1]
    by_epoch = {r.get("epoch"): r for r in rows if all(r.get(k) == last.get(k) for k in same)}
    return sorted((r for e, r in by_epoch.items() if e is not None), key=lambda r: r["epoch"])


def _metrics_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{k}</th>" for k in _TABLE_KEYS)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in _TABLE_KEYS) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("" if value is None else str(value))


def _metrics_section(run: Path, tmp: Path) -> str:
    """Metric-vs-epoch curves and a table, from metrics.jsonl."""
    rows = _latest_setting(read_jsonl(run / METRICS_FILE))
    if not rows:
        return (f"<p class=note>No {METRICS_FILE}: run <code>genlab evaluate {html.escape(str(run))} --every-epoch"
                f"</code> to measure each epoch snapshot.</p>")
    charts = [_chart({name: _series(rows, "epoch", key) for name, key in curves}, tmp, f"metric{i}", "epoch",
                     ylabel, title) for i, (title, ylabel, curves) in enumerate(_METRIC_CHARTS)]
    first = rows[-1]
    drawn = "with the generated class counts" if first.get("floor_sampling") == "class-matched" else "at random"
    note = (f"<p class=note>{first.get('num_samples')} samples per epoch against the {first.get('split')} split "
            f"(sampler {first.get('sampler')}, {first.get('steps')} steps); floor = training images of the same "
            f"count, drawn {drawn}, against the same real set.</p>")
    return note + f'<div class="row">{"".join(c for c in charts if c)}</div>' + _metrics_table(rows)


def _steps_section(run: Path, tmp: Path) -> str:
    """FID vs network evaluations per image, one line per sampler, from fid_vs_steps.json."""
    path = run / FID_VS_STEPS_FILE
    if not path.is_file():
        return ""
    data = json.loads(path.read_text())
    rows = data.get("rows", [])
    curves = {s: _series([r for r in rows if r["sampler"] == s], "nfe", "fid")
              for s in dict.fromkeys(r["sampler"] for r in rows)}
    floor = (data.get("floor") or {}).get("fid")
    if isinstance(floor, (int, float)) and rows:
        nfes = [r["nfe"] for r in rows]
        curves["real-vs-real floor"] = ([min(nfes), max(nfes)], [floor, floor])
    chart = _chart(curves, tmp, "fid_vs_steps", "network evaluations per image", "FID",
                   f"FID vs sampler steps ({data.get('num_samples')} samples)", logy=True)
    table = "".join(f"<tr><td>{html.escape(str(r['sampler']))}</td><td>{r['steps']}</td><td>{r['nfe']}</td>"
                    f"<td>{_fmt(r.get('fid'))}</td><td>{_fmt(r.get('generate_seconds'))}</td></tr>" for r in rows)
    if isinstance(floor, (int, float)):
        table += f"<tr><td>real-vs-real floor</td><td></td><td></td><td>{_fmt(floor)}</td><td></td></tr>"
    return (f"<h2>FID vs sampler steps</h2><div class=row>{chart}<table><tr><th>sampler</th><th>steps</th>"
            f"<th>NFE</th><th>FID</th><th>generate s</th></tr>{table}</table></div>")


def _facts(run: Path) -> tuple[str, str]:
    """(title, HTML list of run facts) from the final snapshot header, if any."""
    try:
        header = read_snapshot_header(run).to_dict()
    except GenlabError:
        return run.name, "<p class=note>No snapshot yet.</p>"
    keys = ("family", "dataset", "step", "images_seen", "train_seconds", "train_cpu_seconds", "weights", "git_commit",
            "version")
    items = "".join(f"<li><b>{k}</b>: {_fmt(header.get(k))}</li>" for k in keys if header.get(k) is not None)
    minutes, cpu = header.get("train_seconds"), header.get("train_cpu_seconds")
    extra = f"<li><b>training</b>: {minutes / 60:.1f} wall-clock minutes</li>" if minutes else ""
    extra += f"<li><b>training</b>: {cpu / 60:.1f} process CPU minutes</li>" if cpu else ""
    return f"{run.name} — {header.get('family')} on {header.get('dataset')}", f"<ul>{items}{extra}</ul>"


def _config_section(run: Path) -> str:
    path = run / "config.json"
    text = path.read_text() if path.is_file() else "(no config.json)"
    return f"<pre>{html.escape(text)}</pre>"


# ---------------------------------------------------------------------------------------------- the page

def render_report(run_dir: str | Path, max_grids: int = 12) -> str:
    """The report page for a run directory, as an HTML string (every image inline)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise GenlabError(f"{run}: not a run directory (expected a folder written by `genlab train`)")
    if not any((run / name).exists() for name in ("samples", "scalars.jsonl", "config.json", "snapshots")):
        raise GenlabError(f"{run}: no samples/, scalars.jsonl, config.json or snapshots/ — not a genlab run directory")
    title, facts = _facts(run)
    with tempfile.TemporaryDirectory(prefix="genlab-report-") as tmp_dir:
        tmp = Path(tmp_dir)
        sections = [
            f"<h1>{html.escape(title)}</h1>{facts}",
            f"<h2>Samples per epoch (fixed seeds)</h2>{_grids_section(run, max_grids)}",
            f"<h2>Training curves</h2>{_loss_section(run, tmp)}",
            f"<h2>Metrics per epoch</h2>{_metrics_section(run, tmp)}",
            _steps_section(run, tmp),
            f"<h2>Config</h2>{_config_section(run)}",
        ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(sections)}"
            f"<p class=note>genlab report, {stamp}.</p></body></html>\n")


def _png(images: Any) -> bytes:
    with tempfile.TemporaryDirectory(prefix="genlab-report-") as tmp:
        return save_grid(images, Path(tmp) / "grid.png", scale=3).read_bytes()


def render_snapshot_report(source: str | Path, num_samples: int = 32) -> str:
    """The page for a snapshot file or pretrained name (no run directory: no curves): its header facts, the
    pretrained manifest entry (command, metrics) if it is one, and a grid of `num_samples` samples (seeds 0..)."""
    path = find_snapshot(source)
    info = read_snapshot_header(path)
    entry = pretrained_manifest().get(str(source), {})
    facts = {"family": info.family, "dataset": info.dataset, "domain": info.domain, "classes": info.num_classes,
             "sample shape": list(info.sample_shape), "step": info.step, "images seen": info.images_seen,
             "weights": info.weights, "genlab version": info.genlab_version, "git commit": info.git_commit,
             "training command": entry.get("command")}
    items = "".join(f"<li><b>{html.escape(k)}</b>: {_fmt(v)}</li>" for k, v in facts.items() if v is not None)
    metrics = entry.get("metrics") or info.metrics
    metrics_html = f"<h2>Measured</h2><pre>{html.escape(json.dumps(metrics, indent=1))}</pre>" if metrics else ""
    samples = ""
    if info.domain != "audio":
        grid = _png(load(path, device="cpu").generate(num_samples, seed=0))
        samples = f"<h2>Samples (seeds 0..{num_samples - 1})</h2>{_figure(grid, str(source), 'grid')}"
    card = f"<h2>Model card</h2><pre>{html.escape(model_card(source))}</pre>"
    title = f"{Path(str(source)).name} — {info.family} on {info.dataset or '?'}"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{items}</ul>{metrics_html}"
            f"{samples}{card}<p class=note>genlab report of a snapshot (no run directory, so no curves), {stamp}.</p>"
            f"</body></html>\n")


def report(source: str | Path, output: str | Path | None = None, max_grids: int = 12) -> Path:
    """Write an HTML report atomically and return its path: for a run directory its full report (default
    run_dir/report.html); for a snapshot file or a pretrained name its header facts, measured metrics and a sample
    grid (default: beside the file, or ./<name>-report.html for a pretrained name)."""
    if Path(source).is_dir():
        target = Path(output) if output is not None else Path(source) / "report.html"
        return atomic_write_text(target, render_report(source, max_grids=max_grids))
    page = render_snapshot_report(source)
    default = (Path(source).with_suffix(".report.html") if Path(source).is_file()
               else Path(f"{Path(str(source)).name}-report.html"))
    return atomic_write_text(Path(output) if output is not None else default, page)
