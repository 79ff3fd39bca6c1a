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
    token: str | None = typer.Option(None, help="Token every request must carry (else $GENLAB_WEB_TOKEN, else a "
                                                "random one); the URL to open is printed at start."),
    no_auth: bool = typer.Option(False, "--no-auth", help="No token at all: only with a loopback --host."),
) -> None:
    """Serve the web UI: generate images, channel realizations + ES-MDA, and audio stems from snapshots."""
    try:
        import uvicorn

        from genlab.web import create_app
        from genlab.web.auth import choose_token
    except ImportError as e:
        raise GenlabError(f"genlab serve needs the web extra ({e.name} is missing): pip install 'genlab[web]'") from e
    token = choose_token(host, token, no_auth)
    if token is None:
        typer.echo("genlab serve: warning: --no-auth: every local user and process can use this server", err=True)
    if not runs_dir.is_dir():
        typer.echo(f"genlab serve: note: runs directory '{runs_dir}' does not exist yet (only pretrained snapshots)",
                   err=True)
    app = create_app(runs_dir, str(data_dir) if data_dir else None, workers=workers, queue=queue, cache_size=cache,
                     device=device, token=token)
    where = f"[{host}]" if ":" in host else host
    url = f"http://{where}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"genlab serve: {url}  (runs {runs_dir}, {workers} worker(s), queue {queue})")
    uvicorn.run(app, host=host, port=port, log_level="info")
