"""Colour contrast of the stylesheet's text/background pairs (WCAG 2.x: at least 4.5:1 for normal text).

The pairs are read from the CSS custom properties of gymchain/web/static/app.css, so a palette change that breaks
legibility fails here without a browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[1] / "src" / "gymchain" / "web" / "static" / "app.css"
# (text, background) as used in the stylesheet: body text, muted text, links, buttons, badges, alerts, top bar
PAIRS = [("--ink", "--bg"), ("--ink", "--card"), ("--muted", "--bg"), ("--muted", "--card"),
         ("--brand-dark", "--card"), ("--brand-dark", "--bg"), ("#ffffff", "--brand"), ("#ffffff", "--brand-dark"),
         ("--ok", "--ok-soft"), ("--warn", "--warn-soft"), ("--danger", "--danger-soft"), ("#ffffff", "--danger"),
         ("--muted", "#eceff2"), ("--muted", "#eef2f5")]


def variables() -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", CSS.read_text()))


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-failing grey


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_have_at_least_aa_contrast(text, background):
    palette = variables()
    fg, bg = palette.get(text, text), palette.get(background, background)
    assert fg.startswith("#") and bg.startswith("#"), f"{text}/{background} not found in {CSS.name}"
    assert contrast(fg, bg) >= 4.5, f"{text} on {background}: {contrast(fg, bg):.2f}:1 < 4.5:1"
