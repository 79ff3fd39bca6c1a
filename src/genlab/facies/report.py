"""Side-by-side pages for the channel-facies comparison and the ES-MDA demo, as markdown and HTML.

A page is a list of blocks — ("h1"|"h2"|"p", text), ("table", header, rows), ("img", relative path, caption) —
rendered by `to_markdown` and `to_html`, so both files always say the same thing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Block = tuple[Any, ...]

# (row label, path into a run's result dict, format, what better means)
COMPARISON_ROWS: list[tuple[str, str, str, str]] = [
    ("family / architecture", "family+architecture", "s", ""),
    ("latent shape", "latent_shape", "s", ""),
    ("contains nn.Linear", "has_linear", "s", ""),
    ("parameters (total)", "params_total", ",d", ""),
    ("parameters (decoder / generator)", "params_generator", ",d", ""),
    ("training time, wall-clock (min)", "train_seconds/60", ".1f", ""),
    ("training time, process CPU (min; — = not recorded)", "train_cpu_seconds/60", ".1f", ""),
    ("training steps", "train_steps", ",d", ""),
    ("training images/s (per wall-clock second)", "train_images_per_s", ".1f", "higher"),
    ("realizations/s (batch 64)", "realizations_per_s", ".0f", "higher"),
    ("channel fraction mean", "metrics.fake.proportion.mean", ".3f", "≈ floor"),
    ("channel fraction std", "metrics.fake.proportion.std", ".3f", "≈ floor"),
    ("fraction-histogram KL", "metrics.fake.fraction_hist_kl", ".3f", "lower"),
    ("pixel-histogram KL", "metrics.fake.pixel_hist_kl", ".4f", "lower"),
    ("variogram x RMSE", "metrics.fake.variogram_x_rmse", ".4f", "lower"),
    ("variogram y RMSE", "metrics.fake.variogram_y_rmse", ".4f", "lower"),
    ("connectivity x RMSE", "metrics.fake.connectivity_x_rmse", ".3f", "lower"),
    ("connectivity y RMSE", "metrics.fake.connectivity_y_rmse", ".3f", "lower"),
    ("images with a body spanning along flow", "metrics.fake.continuity.spanning_fraction", ".3f", "≈ floor"),
    ("channel bodies per image", "metrics.fake.continuity.bodies_per_image.mean", ".2f", "≈ floor"),
    ("mean body size (px)", "metrics.fake.continuity.body_px_mean", ".0f", "≈ floor"),
    ("4×4 pattern JS (bits)", "metrics.fake.pattern_js_4x4", ".4f", "lower"),
    ("3×3 pattern MMD²", "metrics.fake.pattern_mmd2_3x3", ".4f", "lower"),
    ("Fréchet distance, facies-net features", "metrics.fake.facies_frechet", ".2f", "lower"),
    ("pairwise Hamming within the set (diversity)", "metrics.fake.diversity.pairwise_hamming", ".3f", "≈ floor"),
    ("facies-net precision (k=3)", "metrics.fake.diversity.precision", ".3f", "≈ floor"),
    ("facies-net recall / coverage (k=3)", "metrics.fake.diversity.recall", ".3f", "≈ floor (0 = collapse)"),
    ("nearest-train Hamming (mean)", "metrics.nearest_train_hamming.fake.mean", ".3f", "≈ floor (0 = copies)"),
    ("pixels with p in (0.4, 0.6)", "ambiguous_fraction", ".4f", "lower"),
    ("held-out recon. pixel accuracy", "reconstruction.pixel_accuracy", ".3f", "higher"),
    ("held-out recon. channel IoU", "reconstruction.channel_iou", ".3f", "higher"),
    ("latent KL total (nats)", "regularity.kl_total", ".1f", ""),
    ("active latent units", "regularity.active_units", "d", ""),
    ("aggregate posterior Fréchet to N(0,I)", "regularity.frechet_to_prior", ".2f", "lower"),
    ("aggregate posterior KL to N(0,I) (Gaussian fit)", "regularity.kl_gaussian_fit_to_prior", ".2f", "lower"),
]

# Rows whose real-vs-real floor is shown (the floor's path replaces "metrics.fake" by "metrics.floor").
FLOOR_PREFIXES = ("metrics.fake.", "metrics.nearest_train_hamming.fake.")


def lookup(result: dict[str, Any], path: str) -> Any:
    """A value by dotted path; "a/60" divides, "a+b" joins two strings; None when missing."""
    if "+" in path:
        parts = [lookup(result, p) for p in path.split("+")]
        return " / ".join(str(p) for p in parts if p is not None)
    div = 1.0
    if "/" in path:
        path, d = path.split("/")
        div = float(d)
    cur: Any = result
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur / div if div != 1.0 and isinstance(cur, (int, float)) else cur


def fmt(value: Any, spec: str) -> str:
    """Format a number (— for missing or NaN); lists and strings as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if spec == "s" or isinstance(value, (str, list, bool)):
        return str(value)
    if spec.endswith("d"):
        return format(round(float(value)), spec)
    return format(value, spec)


def floor_path(path: str) -> str | None:
    for prefix in FLOOR_PREFIXES:
        if path.startswith(prefix):
            return path.replace(".fake.", ".floor.", 1)
    return None


def comparison_table(results: Sequence[dict[str, Any]], row_specs: Sequence[tuple[str, str, str, str]] | None = None
                     ) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one column per run, then the real-vs-real floor (from the first run) and the direction.
    row_specs: (label, path, format, better) per row; default COMPARISON_ROWS."""
    header = ["metric", *[r["label"] for r in results], "real vs real (floor)", "better"]
    rows = []
    for label, path, spec, better in COMPARISON_ROWS if row_specs is None else row_specs:
        fp = floor_path(path)
        floor = fmt(lookup(results[0], fp), spec) if fp and results else ""
        rows.append([label, *[fmt(lookup(r, path), spec) for r in results], floor, better])
    return header, rows


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "table":
            header, rows = b[1], b[2]
            out.append("\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                                  *["| " + " | ".join(r) + " |" for r in rows]]))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1]})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: Sequence[Block], title: str) -> str:
    e = html.escape
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(f'<figure><img src="{e(b[1])}" alt="{e(b[2])}"><figcaption>{e(b[2])}</figcaption></figure>')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
             "img{image-rendering:pixelated;max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def write_page(blocks: Sequence[Block], out_dir: Path, stem: str, title: str) -> tuple[Path, Path]:
    """Write `stem`.md and `stem`.html into out_dir; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    md.write_text(to_markdown(blocks))
    page.write_text(to_html(blocks, title))
    return md, page


def esmda_table(history: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per ES-MDA iteration (0 = prior, last = posterior)."""
    header = ["iteration", "α", "mismatch O_N mean", "O_N median", "latent std", "data std", "well facies match",
              "log10 rate RMSE", "field accuracy vs truth", "pixel std"]
    rows = []
    for h in history:
        x = h.get("extras", {})
        rows.append([str(h["iteration"]), fmt(h["alpha"], ".2f"), fmt(h["mismatch_mean"], ".3f"),
                     fmt(h["mismatch_median"], ".3f"), fmt(h["m_std"], ".3f"), fmt(h["d_std"], ".3f"),
                     fmt(x.get("well_facies_match"), ".3f"), fmt(x.get("flow_rmse_log10_rate"), ".3f"),
                     fmt(x.get("field_accuracy_vs_truth"), ".3f"), fmt(x.get("pixel_std_mean"), ".3f")])
    return header, rows
