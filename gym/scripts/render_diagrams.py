"""Render the architecture diagrams (gym/docs/diagrams/*.dot, Graphviz) to SVG beside them.

    gym/.venv/bin/python gym/scripts/render_diagrams.py           # (re)render every diagram whose source changed
    gym/.venv/bin/python gym/scripts/render_diagrams.py --check   # exit 1 if an SVG is missing or stale

Each SVG carries the SHA-256 of its source in a comment, so "up to date" means "rendered from exactly this .dot"
and does not depend on the Graphviz version's byte-for-byte output. Needs `dot` (Debian package graphviz, installed
by gym/scripts/setup.sh). CI runs the check through gym/tests/test_docs_diagrams.py.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

DIAGRAMS = Path(__file__).resolve().parents[1] / "docs" / "diagrams"
MARK = "<!-- rendered from {name} sha256:{digest} by gym/scripts/render_diagrams.py -->"


def digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def render(source: Path) -> str:
    """The SVG text of one diagram with its source mark; raises SystemExit with dot's message if it fails."""
    dot = shutil.which("dot")
    if not dot:
        raise SystemExit("render_diagrams: 'dot' not found (apt-get install graphviz, or run gym/scripts/setup.sh)")
    result = subprocess.run([dot, "-Tsvg", str(source)], capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"{source}: dot failed: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")
    svg = result.stdout
    mark = MARK.format(name=source.name, digest=digest(source))
    head, sep, rest = svg.partition("?>\n")  # after the XML declaration
    return head + sep + mark + "\n" + rest if sep else mark + "\n" + svg


def is_current(source: Path) -> bool:
    target = source.with_suffix(".svg")
    return target.exists() and MARK.format(name=source.name, digest=digest(source)) in target.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale or missing SVGs, write nothing")
    parser.add_argument("--force", action="store_true", help="re-render even the current ones")
    args = parser.parse_args(argv)
    sources = sorted(DIAGRAMS.glob("*.dot"))
    if not sources:
        print(f"render_diagrams: no .dot files in {DIAGRAMS}", file=sys.stderr)
        return 1
    stale = [s for s in sources if args.force or not is_current(s)]
    orphans = [p for p in DIAGRAMS.glob("*.svg") if not p.with_suffix(".dot").exists()]
    if args.check:
        for s in stale:
            print(f"{s.with_suffix('.svg')}: missing or stale (run python gym/scripts/render_diagrams.py)",
                  file=sys.stderr)
        for p in orphans:
            print(f"{p}: no {p.with_suffix('.dot').name} beside it", file=sys.stderr)
        return 1 if stale or orphans else 0
    for s in stale:
        s.with_suffix(".svg").write_text(render(s))
        print(f"rendered {s.with_suffix('.svg').relative_to(DIAGRAMS.parents[2])}")
    print(f"render_diagrams: {len(sources)} diagrams, {len(stale)} rendered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
