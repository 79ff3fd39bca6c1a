"""Execute genlab's notebooks and write each one as HTML: the one command for a full (or tiny) run.

    python scripts/render_notebooks.py                      # full run: real data, presets / pretrained snapshots
    python scripts/render_notebooks.py --tiny               # toy data and tiny models: what CI runs (~1-2 min)
    python scripts/render_notebooks.py --tiny 01 04 -o out  # some notebooks, another output directory

Full mode reads real data from GENLAB_DATA_DIR (e.g. ../shared/data) and keeps its runs under
runs/notebooks/<notebook>/, so a second render reuses finished trainings. Notebooks run in a kernel of this very
interpreter (no installed kernelspec needed) with the notebooks folder as working directory; the committed .ipynb
files are never modified. One progress line per notebook; on failure the notebook and cell are named, the
partial HTML is still written (as <name>.failed.html) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FULL_ENV = "GENLAB_NOTEBOOK_FULL"


@dataclass
class Rendered:
    name: str
    seconds: float
    html: Path | None
    error: str | None = None


class NotebookFailed(Exception):
    """A cell raised: `notebook` and `cell` (0-based index among all cells) say where."""

    def __init__(self, notebook: str, cell: int, source: str, error: str):
        first = source.strip().splitlines()[0] if source.strip() else ""
        super().__init__(f"{notebook}: cell {cell} failed ({first[:70]!r}): {error}")
        self.notebook, self.cell, self.error = notebook, cell, error


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The notebooks in order; `names` selects by prefix ("01", "04_diffusion", ...)."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return paths
    chosen = [p for p in paths if any(p.stem.startswith(n.removesuffix(".ipynb")) for n in names)]
    missing = [n for n in names if not any(p.stem.startswith(n.removesuffix(".ipynb")) for p in paths)]
    if missing:
        raise SystemExit(f"no notebook matches {', '.join(missing)}; have: {', '.join(p.stem for p in paths)}")
    return chosen


def kernel_manager_class():
    """A KernelManager class whose kernel is `python -m ipykernel_launcher` of *this* interpreter (robust against a
    user-level 'python3' kernelspec that points at another Python)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    class ThisPythonKernel(KernelManager):
        @property
        def kernel_spec(self):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python 3", language="python", resource_dir=str(NOTEBOOKS))

    return ThisPythonKernel


def _failing_cell(nb) -> tuple[int, str]:
    """(index, source) of the cell whose outputs hold an error, else (-1, '')."""
    for i, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, cell.source
    return -1, ""


def execute(path: Path, full: bool, timeout: int | None = None, env: dict[str, str] | None = None):
    """Run notebook `path` top to bottom in a fresh kernel; returns the executed notebook (outputs included).

    Raises NotebookFailed naming the cell; the partially executed notebook is on the exception as `.nb`.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, **(env or {}), FULL_ENV: "1" if full else "0"}
    # The client owns its kernel manager, so the kernel is shut down after the notebook (also on errors).
    client = NotebookClient(nb, kernel_manager_class=kernel_manager_class(), timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute(env=kernel_env)
    except (CellExecutionError, CellTimeoutError) as e:
        index, source = _failing_cell(nb)
        error = f"{e.ename}: {e.evalue}" if isinstance(e, CellExecutionError) else f"timed out after {timeout} s"
        failed = NotebookFailed(path.name, index, source, error)
        failed.nb = nb
        raise failed from None
    return nb


def write_html(nb, out: Path) -> Path:
    """The executed notebook as one self-contained HTML page (images are embedded), written atomically."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, out)
    return out


def render(paths: list[Path], out_dir: Path, full: bool, timeout: int | None = None) -> list[Rendered]:
    """Execute each notebook and write out_dir/<name>.html; one progress line each. Stops at the first failure."""
    done = []
    mode = "full" if full else "tiny"
    for k, path in enumerate(paths, start=1):
        print(f"[{k}/{len(paths)}] {path.stem} ({mode}) ...", flush=True)
        t0 = time.time()
        try:
            nb = execute(path, full, timeout)
        except NotebookFailed as e:
            html = write_html(e.nb, out_dir / f"{path.stem}.failed.html")
            done.append(Rendered(path.stem, time.time() - t0, html, str(e)))
            print(f"[{k}/{len(paths)}] FAILED after {time.time() - t0:.0f} s: {e}\n    partial output: {html}", flush=True)
            break
        html = write_html(nb, out_dir / f"{path.stem}.html")
        done.append(Rendered(path.stem, time.time() - t0, html))
        print(f"[{k}/{len(paths)}] {path.stem} ok in {time.time() - t0:.1f} s -> {html}", flush=True)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="notebook name prefixes (default: all), e.g. 01 04_diffusion")
    ap.add_argument("--tiny", action="store_true", help="toy data and tiny models (seconds; what CI runs)")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "runs" / "notebooks",
                    help="directory for the HTML files (default: runs/notebooks)")
    ap.add_argument("--timeout", type=int, default=0, help="seconds per cell (default: none in full mode, 600 tiny)")
    args = ap.parse_args(argv)
    timeout = args.timeout or (600 if args.tiny else None)
    results = render(notebook_paths(args.names), args.output, full=not args.tiny, timeout=timeout)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
