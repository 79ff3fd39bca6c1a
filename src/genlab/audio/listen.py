"""The listening page of issue 17: original / vocoder / Griffin-Lim / oracle players for each stem of a few test
tracks, with spectrograms and difference spectrograms, written as static files (`genlab audio listen`).

Per (track, stem), from the same decoded stem (silent stems — RMS below −60 dBFS — are listed and skipped):

- ``original``;
- ``model``: the vocoder's own waveform from its log-mel;
- ``Griffin-Lim (mel)``: that log-mel → NNLS linear magnitude → fast Griffin-Lim (momentum 0.99), the baseline on
  the same input;
- ``oracle PGHI`` and ``oracle Griffin-Lim``: the TRUE STFT magnitude with a phase from PGHI (no iterations) or fast
  Griffin-Lim — what a perfect magnitude would give with each classical phase.

Each row has one PNG: spectrograms (dB, channel 0) on top and each method minus the original below (±30 dB), and
the clip's spectral convergence / MR-STFT / LSD / mel distance beside its player. The page links only its own
files; open ``index.html`` from disk.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.audio.evaluation import _CSS, SR, _db_spec, _save_spectrograms, _slug
from genlab.audio.io import is_silent, rms_dbfs, write_wav
from genlab.errors import GenlabError

JUDGED = ("spectral_convergence", "mr_stft", "lsd_db", "mel_distance")
_LABELS = {"spectral_convergence": "SC", "mr_stft": "MR-STFT", "lsd_db": "LSD dB", "mel_distance": "mel"}


@dataclass
class ListenItem:
    """One (track, stem): the original and each method's waveform (C, S), plus metrics per method."""

    track: str
    stem: str
    original: Tensor
    estimates: dict[str, Tensor]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def write_listening_page(out_dir: str | os.PathLike[str], items: Sequence[ListenItem], title: str,
                         notes: Sequence[str] = ()) -> Path:
    """WAVs, one spectrogram/difference PNG per item and index.html into `out_dir`; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for it in items:
        folder = Path(_slug(it.track)) / it.stem
        (out / folder).mkdir(parents=True, exist_ok=True)
        clips = {"original": it.original, **it.estimates}
        players = []
        for method, wave in clips.items():
            wav = f"{_slug(method)}.wav"
            write_wav(out / folder / wav, wave.detach().cpu().numpy(), SR)
            stats = it.metrics.get(method, {})
            caption = " · ".join(f"{_LABELS[k]} {stats[k]:.3g}" for k in JUDGED if k in stats)
            players.append(f"<figure><figcaption><b>{html.escape(method)}</b><br><small>{html.escape(caption)}"
                           f"</small></figcaption><audio controls preload=none src='{_url(folder / wav)}'>"
                           "</audio></figure>")
        ref_db = _db_spec(it.original)
        specs = [(m, ref_db if m == "original" else _db_spec(w)) for m, w in clips.items()]
        _save_spectrograms(specs, ref_db, out / folder / "spectrograms.png")
        sections.append(f"<h3>{html.escape(it.track)} — {html.escape(it.stem)}</h3>"
                        f"<img alt='spectrograms of {html.escape(it.stem)}' src='{_url(folder / 'spectrograms.png')}'"
                        f" style='max-width:100%'><div class=row>{''.join(players)}</div>")
    note = "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes)
    doc = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style>"
           f"<h1>{html.escape(title)}</h1>{note}"
           "<p class=note>Spectrograms: channel 0, dB. Bottom row: method − original in dB (red: too loud, blue: "
           "missing). Per clip: spectral convergence (SC), MR-STFT, log-spectral distance and mel distance against "
           "the original (lower is better).</p>" + "".join(sections))
    page = out / "index.html"
    page.write_text(doc, encoding="utf-8")
    return page


def _url(path: Path) -> str:
    from urllib.parse import quote

    return html.escape(quote(path.as_posix()), quote=True)


def listen_items(vocoder, tracks: Sequence[str] | int = 3, stems: Sequence[str] = ("drums", "bass", "other", "vocals"),
                 data_dir: str | None = None, gl_iters: int = 100, progress=None) -> tuple[list[ListenItem], list[str]]:
    """Compute the clips of the page for a loaded vocoder (`genlab.audio.sampling.AudioModel`): the first N test
    tracks (an int) or the named ones. Returns the items and one note per skipped silent stem."""
    from genlab.audio.io import default_cache_dir
    from genlab.audio.musdb import MusdbSource, musdb_root
    from genlab.audio.pghi import pghi
    from genlab.audio.phase import griffin_lim, mel_to_linear
    from genlab.audio.sampling import vocode
    from genlab.metrics.audio import compare_audio

    if vocoder.kind != "vocoder":
        raise GenlabError(f"the listening page needs a vocoder snapshot (vocos); got a {vocoder.kind} model")
    src = MusdbSource(musdb_root(data_dir), cache_dir=default_cache_dir())
    available = src.tracks("test")
    if isinstance(tracks, int):
        if tracks < 1:
            raise GenlabError(f"--tracks {tracks}: expected at least 1 track")
        if not available:
            raise GenlabError(f"'{src.root / 'test'}' holds no MUSDB18 tracks (expected <track>.stem.mp4 files or "
                              "<track>/ folders with mixture.wav and the stems)")
        chosen = available[:tracks]
    else:
        chosen = [src.track(name, "test") for name in tracks]
    mel_mod = vocoder.model.mel.cpu()
    stft = mel_mod.stft
    items, skipped = [], []
    for track in chosen:
        for stem in stems:
            audio = np.array(src.load(track, stem), dtype=np.float32)
            if is_silent(audio):
                skipped.append(f"{track.name} / {stem}: silent ({rms_dbfs(audio):.0f} dBFS), left out")
                continue
            wave = torch.from_numpy(audio)
            n = wave.shape[-1]
            with torch.no_grad():
                true_mag = stft(wave).abs()
                mel_mag = mel_to_linear(mel_mod.from_magnitude(true_mag).clamp_min(1e-5), mel_mod.filterbank,
                                        "nnls", 100)
                ests = {"model": vocode(vocoder, wave),
                        f"Griffin-Lim (mel, fast, {gl_iters} it.)": griffin_lim(
                            mel_mag, stft, gl_iters, 0.99, n, generator=torch.Generator().manual_seed(0)),
                        "oracle PGHI (true magnitude)": pghi(true_mag, stft, n),
                        f"oracle Griffin-Lim (true magnitude, {gl_iters} it.)": griffin_lim(
                            true_mag, stft, gl_iters, 0.99, n, generator=torch.Generator().manual_seed(0))}
            metrics = {m: compare_audio(wave, e, SR) for m, e in ests.items()}
            items.append(ListenItem(track.name, stem, wave, ests, metrics))
            if progress is not None:
                progress(f"{track.name} / {stem}")
    return items, skipped


def listening_page(snapshot: str | os.PathLike[str], out_dir: str | os.PathLike[str] = "runs/audio-listen", *,
                   tracks: Sequence[str] | int = 3, stems: Sequence[str] = ("drums", "bass", "other", "vocals"),
                   data_dir: str | None = None, gl_iters: int = 100, device: str = "cpu", progress=None) -> Path:
    """Write the listening page (`genlab.audio.listen`) for a vocoder snapshot: original / model / Griffin-Lim /
    oracle players with spectrograms and difference spectrograms for each stem of `tracks` (the first N test
    tracks, or names). Returns the path of index.html."""
    from genlab.audio.sampling import load_audio_model

    name = Path(snapshot).stem if Path(snapshot).is_file() else Path(snapshot).name
    am = load_audio_model(snapshot, device, name=name)
    items, skipped = listen_items(am, tracks, stems, data_dir, gl_iters, progress)
    if not items:
        raise GenlabError("no stem to put on the listening page: every requested stem is silent")
    notes = [(f"Model: {am.name} ({am.generator.info.family}). Griffin-Lim: {gl_iters} iterations, momentum 0.99, "
              "from the NNLS inversion of the same log-mel the model reads; oracles use the true STFT magnitude."),
             *skipped]
    return write_listening_page(out_dir, items, "genlab: vocoder vs Griffin-Lim vs oracle phase", notes)
