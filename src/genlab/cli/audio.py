"""`genlab audio`: regenerate a stem through a snapshot; evaluate snapshots against Griffin-Lim and the oracle.

Thin commands over `genlab.api`. Nothing heavy is imported at module level, so `genlab --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from genlab.cli import checks
from genlab.errors import GenlabError

audio_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Audio (MUSDB18 stems): regenerate and evaluate.")

_STEMS = ("vocals", "drums", "bass", "other", "mixture")


@audio_app.command("regenerate")
def regenerate_cmd(
    source: str = typer.Argument(..., help="Input: a WAV/FLAC file, or a MUSDB track name (e.g. 'Al James - "
                                           "Schoolboy Facination') read from <data-dir>/musdb/MUSDB18-7."),
    stem: str = typer.Option("vocals", "--stem", help="Stem of a MUSDB track: vocals, drums, bass, other."),
    snapshot: Path = typer.Option(..., "--snapshot", help="Snapshot file or run directory (spectral-ae or vocos)."),
    output: Path = typer.Option(Path("regenerated.wav"), "-o", "--output", help="WAV file to write (44.1 kHz)."),
    phase: str = typer.Option("griffin-lim", help="Phase for the model's magnitude: griffin-lim | mixture (MUSDB "
                              "tracks) | oracle (upper bound) | model (vocoders: their own phase)."),
    gl_iters: int = typer.Option(100, "--gl-iters", min=0, max=10_000, help="Griffin-Lim iterations."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Holds musdb/MUSDB18-7 (else "
                                                                      "$GENLAB_DATA_DIR)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Regenerate one stem through a trained snapshot and write it as a WAV file."""
    from genlab import api

    if stem not in _STEMS:
        raise GenlabError(f"--stem {stem}: expected one of {', '.join(_STEMS)}")
    checks.output_file(output, suffixes=(".wav",))
    out = api.regenerate(source, stem, snapshot, output, phase=phase, gl_iters=gl_iters,
                     data_dir=str(data_dir) if data_dir else None, device=device)
    typer.echo(f"wrote {out}")


@audio_app.command("evaluate")
def evaluate_cmd(
    snapshots: list[Path] = typer.Argument(..., help="Snapshot files or run directories to compare."),
    subset: str = typer.Option("test", help="MUSDB subset: test | train."),
    stems: list[str] = typer.Option(["vocals"], "--stem", help="Stem(s) to evaluate (repeat the option)."),
    n_tracks: int = typer.Option(5, "--tracks", min=0, help="First N tracks by name (0 = all)."),
    out_dir: Path = typer.Option(Path("runs/audio-eval"), "-o", "--out-dir", help="Table, WAVs, PNGs, index.html."),
    museval: bool = typer.Option(False, "--museval", help="Also compute museval (BSS Eval v4) SDR (slow)."),
    listen_tracks: int = typer.Option(3, "--listen-tracks", min=0, help="Tracks with WAVs/PNGs on the page."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Holds musdb/MUSDB18-7."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Compare snapshots with Griffin-Lim (32/100 iterations) and the oracle phase on the same stems."""
    from genlab import api

    bad = [s for s in stems if s not in _STEMS]
    if bad:
        raise GenlabError(f"--stem {bad[0]}: expected one of {', '.join(_STEMS)}")
    checks.output_dir(out_dir, "--out-dir")
    result = api.evaluate_audio(subset, stems, snapshots, n_tracks, out_dir,
                                data_dir=str(data_dir) if data_dir else None,
                                with_museval=museval, listen_tracks=listen_tracks, device=device)
    typer.echo(result.markdown)
    typer.echo(f"results: {result.json}\nlistening page: {result.html}")


@audio_app.command("listen")
def listen_cmd(
    snapshot: str = typer.Argument(..., help="Vocoder snapshot: file, run directory or pretrained name "
                                             "(e.g. musdb-vocos)."),
    n_tracks: int = typer.Option(3, "--tracks", min=1, max=50, help="First N MUSDB18 test tracks by name."),
    track: list[str] = typer.Option([], "--track", help="A test track by name instead (repeat the option)."),
    stems: list[str] = typer.Option(["drums", "bass", "other", "vocals"], "--stem", help="Stem(s) (repeat)."),
    out_dir: Path = typer.Option(Path("runs/audio-listen"), "-o", "--out-dir", help="index.html, WAVs and PNGs."),
    gl_iters: int = typer.Option(100, "--gl-iters", min=1, max=1000, help="Griffin-Lim iterations."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Holds musdb/MUSDB18-7 (else $GENLAB_DATA_DIR)."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Write a listening page: original / vocoder / Griffin-Lim / oracle (PGHI, Griffin-Lim on the true magnitude)
    players for each stem of a few test tracks, with spectrograms and difference spectrograms."""
    from genlab import api

    bad = [s for s in stems if s not in _STEMS[:4]]
    if bad:
        raise GenlabError(f"--stem {bad[0]}: expected one of {', '.join(_STEMS[:4])}")
    checks.output_dir(out_dir, "--out-dir")
    page = api.listening_page(snapshot, out_dir, tracks=list(track) or n_tracks, stems=stems,
                              data_dir=str(data_dir) if data_dir else None, gl_iters=gl_iters, device=device,
                              progress=lambda what: typer.echo(f"  {what}", err=True))
    typer.echo(f"listening page: {page}")
