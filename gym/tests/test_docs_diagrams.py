"""The architecture diagrams (gym/docs/diagrams/*.dot) render with Graphviz and the committed SVGs are the
renderings of exactly the committed sources; the docs link every diagram."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GYM = Path(__file__).resolve().parents[1]
DIAGRAMS = GYM / "docs" / "diagrams"
SCRIPT = GYM / "scripts" / "render_diagrams.py"
sys.path.insert(0, str(SCRIPT.parent))
import render_diagrams  # gym/scripts/render_diagrams.py


def test_every_diagram_renders_and_names_its_kind():
    sources = sorted(DIAGRAMS.glob("*.dot"))
    names = {s.stem for s in sources}
    assert {"c4-context", "c4-container", "c4-component-members", "dataflow-booking",
            "dataflow-personal-data", "deployment-aws"} <= names
    for source in sources:
        svg = render_diagrams.render(source)
        assert svg.count("<svg") == 1 and f"sha256:{render_diagrams.digest(source)}" in svg
        assert len(re.findall(r'class="node"', svg)) >= 5, f"{source.name}: too few boxes to be a diagram"


def test_committed_svgs_are_up_to_date():
    result = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True, check=False,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_stale_svg_is_detected(tmp_path, monkeypatch):
    (tmp_path / "a.dot").write_text("digraph { a -> b }\n")
    monkeypatch.setattr(render_diagrams, "DIAGRAMS", tmp_path)
    assert render_diagrams.main([]) == 0 and render_diagrams.main(["--check"]) == 0
    (tmp_path / "a.dot").write_text("digraph { a -> c }\n")
    assert render_diagrams.main(["--check"]) == 1


def test_a_broken_diagram_fails_with_one_line(tmp_path):
    bad = tmp_path / "bad.dot"
    bad.write_text("digraph { a -> }\n")
    with pytest.raises(SystemExit, match=r"bad.dot: dot failed: .*syntax error"):
        render_diagrams.render(bad)


def test_docs_show_every_diagram():
    text = "\n".join(p.read_text() for p in (GYM / "docs").glob("*.md"))
    for svg in DIAGRAMS.glob("*.svg"):
        assert f"diagrams/{svg.name}" in text, f"no page of gym/docs shows {svg.name}"
