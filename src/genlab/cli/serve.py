"""`genlab serve`: the web UI (genlab.web) under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from genlab.errors import GenlabError


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Run directories / snapshot files offered."),
    data_dir: Path | None = typer.Option(None, "--data-dir",
                                            help="Holds musdb/MUSDB18-7 (else $GENLAB_DATA_DIR)."),
    workers: int = typer.Option(1, min=1, max=16, help="Worker threads running generation jobs."),
    queue: int = typer.Option(20, min=1, max=1000, help="Jobs admitted at once (waiting or running); more get 503."),
    cache: int = typer.Option(4, min=1, max=64, help="Loaded snapshots kept in memory (LRU)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Serve the web UI: generate images, channel realizations + ES-MDA, and audio stems from snapshots."""
    try:
        import uvicorn

        from genlab.web import create_app
    except ImportError as e:
        raise GenlabError(f"genlab serve needs the web extra ({e.name} is missing): pip install 'genlab[web]'") from e
    if not runs_dir.is_dir():
        typer.echo(f"genlab serve: note: runs directory '{runs_dir}' does not exist yet (only pretrained snapshots)",
                   err=True)
    app = create_app(runs_dir, str(data_dir) if data_dir else None, workers=workers, queue=queue, cache_size=cache,
                     device=device)
    typer.echo(f"genlab serve: http://{host}:{port}/  (runs {runs_dir}, {workers} worker(s), queue {queue})")
    uvicorn.run(app, host=host, port=port, log_level="info")
