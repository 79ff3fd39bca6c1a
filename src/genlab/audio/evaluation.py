"""The audio comparison behind `genlab audio evaluate`: models vs Griffin-Lim and the oracle on the same inputs.

For every (track, stem) of the subset, the same decoded stem feeds every method:

- ``stft/gl32``, ``stft/gl100``, ``stft/mixture-phase``, ``stft/oracle``: the stem's exact STFT magnitude (the
  spectral model's codec settings, n_fft 1024 / hop 256 by default) with fast Griffin-Lim, the mixture's phase or
  its own phase — the magnitude-only baselines, one per phase strategy of the model;
- ``<spectral run>/glN`` (N = the largest Griffin-Lim count), ``/mixture-phase``, ``/oracle-phase``: the model's regenerated magnitude with each
  phase strategy;
- ``mel/nnls+gl32``, ``mel/nnls+gl100``: the vocoder's own log-mel input, inverted to a linear magnitude with NNLS,
  then Griffin-Lim — the baseline a vocoder must beat on the same input; ``mel/nnls+oracle``: that magnitude with
  the true phase (what 128 mel numbers per frame hold, to set against the spectral model's 128-number code);
- ``mel/<vocoder run>``: the vocoder's waveform from that same log-mel; ``mel/<vocoder run>/mag+glN``: its
  predicted magnitude with the baseline's Griffin-Lim; ``mel/<vocoder run>/glM-warm``: Griffin-Lim (M = the smallest
  count) started from the vocoder's magnitude and phase; ``mel/<vocoder run>/mag+oracle-phase``: its magnitude with
  the true phase (to set against ``mel/nnls+oracle``).

Only the ``mel/…`` rows share one input (128 log-mel numbers per frame). ``stft/…`` rows see the exact magnitude
(513 numbers per frame) and the spectral model's rows a 128-number learned code: reference rows, not the same input.

Metrics (`genlab.metrics.audio.compare_audio`): SI-SDR, SNR, LSD, spectral convergence, MR-STFT, mel distance,
optionally museval SDR. Outputs: results.json, table.md, WAVs + spectrogram/error PNGs for the first
`listen_tracks` tracks, and index.html with the <audio> players side by side.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.audio.io import default_cache_dir, is_silent, write_wav
from genlab.audio.musdb import MusdbSource, musdb_root
from genlab.audio.phase import griffin_lim, mel_to_linear, oracle_phase
from genlab.audio.sampling import apply_phase, spectral_magnitude, vocode, vocoder_polar
from genlab.audio.transforms import MelSpectrogram, Stft
from genlab.metrics.audio import MetricTable, compare_audio

SR = 44100


@dataclass
class Evaluation:
    """What `evaluate_audio` produced: the metric table, its markdown medians and where the files are."""

    table: MetricTable
    out_dir: Path
    markdown: str
    seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def html(self) -> Path:
        return self.out_dir / "index.html"

    @property
    def json(self) -> Path:
        return self.out_dir / "results.json"


def _timed(timings: dict[str, list[float]], key: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    timings.setdefault(key, []).append(time.perf_counter() - t0)
    return out


def baseline_estimates(wave: Tensor, mixture: Tensor, stft: Stft, gl_iters: tuple[int, ...],
                       timings: dict) -> dict[str, Tensor]:
    """The stem's exact magnitude through Griffin-Lim (each iteration count), with the mixture's phase and with its
    own phase (oracle)."""
    mag = stft(wave).abs()
    out = {}
    for n in gl_iters:
        gen = torch.Generator().manual_seed(0)
        out[f"stft/gl{n}"] = _timed(timings, f"gl{n}", griffin_lim, mag, stft, n, 0.99, wave.shape[-1], generator=gen)
    out["stft/mixture-phase"] = oracle_phase(mag, mixture, stft)
    out["stft/oracle"] = oracle_phase(mag, wave, stft)
    return out


def mel_baselines(vocoder, wave: Tensor, gl_iters: tuple[int, ...], timings: dict) -> dict[str, Tensor]:
    """The vocoder's mel (its own front-end) → NNLS linear magnitude → Griffin-Lim, on the vocoder's STFT."""
    mel_mod = vocoder.model.mel.cpu()
    with torch.no_grad():
        mel = mel_mod(wave)  # (C, M, T) linear mel magnitude; the vocoder sees log(max(mel, 1e-5))
        mag = _timed(timings, "mel_nnls", mel_to_linear, mel.clamp_min(1e-5), mel_mod.filterbank, "nnls", 100)
    out = {}
    for n in gl_iters:
        gen = torch.Generator().manual_seed(0)
        out[f"mel/nnls+gl{n}"] = _timed(timings, f"mel_gl{n}", griffin_lim, mag, mel_mod.stft, n, 0.99,
                                        wave.shape[-1], generator=gen)
    out["mel/nnls+oracle"] = oracle_phase(mag, wave, mel_mod.stft)  # the mel's magnitude information alone
    return out


# --- issue 17: the vocoder's own waveform against every phase reference on the same stem --------------------------
REFERENCE_METHODS = ("mel/nnls+gl{n}", "mel/nnls+fgla{n}", "mel/nnls+true-phase", "true-mag/fgla{n}",
                     "true-mag/pghi", "true-mag/true-phase")


def default_mel_front_end() -> MelSpectrogram:
    """The vocoders' log-mel front-end (`VocosConfig` defaults: 44.1 kHz, n_fft 1024, hop 256, 128 Slaney bands,
    0 Hz to Nyquist): what the baselines invert when no vocoder is given."""
    return MelSpectrogram(SR, 1024, 256, 128)


def front_end_signature(mel_mod: MelSpectrogram) -> str:
    """A short text naming a mel front-end (sizes and a hash of its filterbank): cached baseline rows are reused
    only for the same one."""
    import hashlib

    fb = mel_mod.filterbank.detach().cpu().float().numpy()
    digest = hashlib.sha256(fb.tobytes()).hexdigest()[:10]
    return f"nfft{mel_mod.stft.n_fft}-hop{mel_mod.stft.hop}-mels{fb.shape[0]}-fb{digest}"


def reference_estimates(wave: Tensor, mel_mod: MelSpectrogram, gl_iters: int = 100, nnls_iters: int = 100,
                        timings: dict | None = None, seed: int = 0) -> dict[str, Tensor]:
    """Every reference a vocoder is set against, for one (C, S) stem (channels as mono signals):

    - from the mel the vocoder reads (``max(mel, 1e-5)``, its STFT): the NNLS linear magnitude (`mel_to_linear`)
      with Griffin-Lim (``mel/nnls+gl{n}``: the original algorithm, momentum 0) and fast Griffin-Lim
      (``mel/nnls+fgla{n}``: momentum 0.99), both `gl_iters` iterations from the same seeded random phase — the
      baseline; and with the true phase (``mel/nnls+true-phase``: what the mel's magnitude holds);
    - from the TRUE STFT magnitude (oracles; 513 numbers per frame, not the vocoder's input): fast Griffin-Lim,
      PGHI (`genlab.audio.pghi`, no iterations) and the true phase (``true-mag/true-phase``: the STFT round trip,
      the identity up to float error).
    """
    from genlab.audio.pghi import pghi

    timings = {} if timings is None else timings
    stft, n = mel_mod.stft.cpu(), wave.shape[-1]
    with torch.no_grad():
        true_mag = stft(wave).abs()
        mel = mel_mod.cpu().from_magnitude(true_mag).clamp_min(1e-5)
        mel_mag = _timed(timings, "mel_nnls", mel_to_linear, mel, mel_mod.filterbank, "nnls", nnls_iters)
        out = {}
        for key, mag, momentum in ((f"mel/nnls+gl{gl_iters}", mel_mag, 0.0),
                                   (f"mel/nnls+fgla{gl_iters}", mel_mag, 0.99),
                                   (f"true-mag/fgla{gl_iters}", true_mag, 0.99)):
            gen = torch.Generator().manual_seed(seed)
            out[key] = _timed(timings, key, griffin_lim, mag, stft, gl_iters, momentum, n, generator=gen)
        out["mel/nnls+true-phase"] = oracle_phase(mel_mag, wave, stft)
        out["true-mag/pghi"] = _timed(timings, "true-mag/pghi", pghi, true_mag, stft, n, seed=seed)
        out["true-mag/true-phase"] = oracle_phase(true_mag, wave, stft)
    return out


def model_estimates(model, wave: Tensor, mixture: Tensor, timings: dict, gl_iters: int = 100,
                    warm_iters: int = 32) -> dict[str, Tensor]:
    """One audio model's regenerations of a (C, S) stem.

    Vocoders (input: their log-mel): ``mel/<run>`` is the vocoder's own waveform; ``mel/<run>/mag+glN`` is its
    predicted magnitude with the same Griffin-Lim as the ``mel/nnls+glN`` baseline (so the two rows differ only in
    the magnitude estimate); ``mel/<run>/glM-warm`` (M = the smallest count) starts Griffin-Lim from the
    vocoder's own phase instead of a random one; ``mel/<run>/mag+oracle-phase`` gives it the true phase. Spectral models: their regenerated magnitude with every phase
    strategy (Griffin-Lim with as many iterations as the strongest Griffin-Lim baseline)."""
    n = wave.shape[-1]
    if model.kind == "vocoder":
        label, stft = f"mel/{model.name}", model.model.mel.stft.cpu()
        out = {label: _timed(timings, model.name, vocode, model, wave)}
        t0 = time.perf_counter()
        mag, phase = vocoder_polar(model, wave)
        polar_s = time.perf_counter() - t0
        for key, iters, start in ((f"mag+gl{gl_iters}", gl_iters, None), (f"gl{warm_iters}-warm", warm_iters, phase)):
            out[f"{label}/{key}"] = _timed(timings, f"{label}/{key}", apply_phase, mag, stft, n, "griffin-lim", None,
                                           iters, start=start)
            timings[f"{label}/{key}"][-1] += polar_s  # the whole path: log-mel → network → Griffin-Lim
        out[f"{label}/mag+oracle-phase"] = apply_phase(mag, stft, n, "oracle", wave)  # its magnitude error alone
        return out
    mag = _timed(timings, f"{model.name}", spectral_magnitude, model, wave)
    stft = model.codec.stft
    return {f"{model.name}/gl{gl_iters}": apply_phase(mag, stft, n, "griffin-lim", None, gl_iters),
            f"{model.name}/mixture-phase": apply_phase(mag, stft, n, "mixture", mixture),
            f"{model.name}/oracle-phase": apply_phase(mag, stft, n, "oracle", wave)}


def run_evaluation(subset: str, stems: list[str], models: list, n_tracks: int, out_dir: Path,
                   data_dir: str | None, gl_iters: tuple[int, ...], with_museval: bool,
                   listen_tracks: int) -> Evaluation:
    """See `genlab.audio.api.evaluate_audio`."""
    src = MusdbSource(musdb_root(data_dir), cache_dir=default_cache_dir())
    tracks = src.tracks(subset)[: n_tracks if n_tracks > 0 else None]
    spectral = next((m for m in models if m.kind == "spectral"), None)
    stft = spectral.codec.stft.cpu() if spectral is not None else Stft(1024, 256)
    table, timings, pages = MetricTable(), {}, []
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, track in enumerate(tracks):
        for stem in stems:
            wave, mix = (torch.from_numpy(np.array(src.load(track, s), dtype=np.float32)) for s in (stem, "mixture"))
            if is_silent(wave.numpy()):
                continue
            ests = baseline_estimates(wave, mix, stft, gl_iters, timings)
            for m in models:
                if m.kind == "vocoder":
                    ests |= mel_baselines(m, wave, gl_iters, timings)
                ests |= model_estimates(m, wave, mix, timings, max(gl_iters), min(gl_iters))
            for method, est in ests.items():
                table.update(track.name, stem, method, compare_audio(wave, est, SR, with_museval))
            if k < listen_tracks:
                pages.append(write_listening_files(out_dir, track.name, stem, wave, ests))
    timings["audio_s"] = [wave.shape[-1] / SR]
    return _finish(table, out_dir, timings, pages, models)


def _finish(table: MetricTable, out_dir: Path, timings: dict, pages: list, models: list) -> Evaluation:
    md = table.to_markdown(("stem", "method"))
    (out_dir / "table.md").write_text(md + "\n")
    medians_s = {k: float(np.median(v)) for k, v in timings.items()}
    payload = json.loads(table.to_json(("stem", "method"))) | {"timing_median_s": medians_s,
                                                               "models": [m.name for m in models]}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1))
    write_html(out_dir, table, pages)
    return Evaluation(table, out_dir, md, timings)


# --- listening files ------------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:60]


def write_listening_files(out_dir: Path, track: str, stem: str, wave: Tensor,
                          ests: dict[str, Tensor]) -> dict[str, Any]:
    """WAVs per method and one PNG (spectrograms on top, error maps below) for one (track, stem)."""
    folder = out_dir / _slug(track) / stem
    items = [{"method": "original", "wav": "original.wav"}]
    write_wav(folder / "original.wav", wave.numpy(), SR)
    for method, est in ests.items():
        write_wav(folder / f"{_slug(method)}.wav", est.numpy(), SR)
        items.append({"method": method, "wav": f"{_slug(method)}.wav"})
    ref_db = _db_spec(wave)
    specs = [("original", ref_db)] + [(m, _db_spec(e)) for m, e in ests.items()]
    _save_spectrograms(specs, ref_db, folder / "spectrograms.png")
    return {"track": track, "stem": stem, "items": items, "folder": str(folder.relative_to(out_dir)),
            "png": "spectrograms.png"}


def _db_spec(wave: Tensor) -> np.ndarray:
    """Channel-0 magnitude in dB (F, T), n_fft 1024 / hop 256, floor −100 dB."""
    spec = Stft(1024, 256)(wave[0]).abs()
    return (20 * torch.log10(spec.clamp_min(1e-5))).numpy()


def _save_spectrograms(specs: list[tuple[str, np.ndarray]], ref_db: np.ndarray, path: Path) -> None:
    """Row 1: each method's spectrogram (80 dB range); row 2: its error map (method − original, ±30 dB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(specs)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.2), dpi=72, squeeze=False)
    top = ref_db.max()
    for j, (title, db) in enumerate(specs):
        axes[0, j].imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top)
        axes[0, j].set_title(title, fontsize=7)
        axes[1, j].imshow(db - ref_db, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-30, vmax=30)
        axes[1, j].set_title("error (dB)" if j else "—", fontsize=7)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def write_html(out_dir: Path, table: MetricTable, pages: list[dict[str, Any]]) -> Path:
    """index.html: the median table, then per track/stem a row of figures with players side by side."""
    rows = table.compute(("stem", "method"))
    cols = ["stem", "method", "n", *table.metric_names()]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>" for r in rows)
    sections = [_section(p) for p in pages]
    doc = (f"<!doctype html><meta charset='utf-8'><title>genlab audio evaluation</title><style>{_CSS}</style>"
           "<h1>Regenerated stems vs Griffin-Lim and the oracle</h1>"
           "<p class=note>Medians over tracks. Higher is better for SI-SDR/SNR/SDR (dB); lower for LSD, spectral "
           "convergence, MR-STFT and mel distance. Spectrograms: channel 0; error maps: regenerated − original, dB (red: too loud, blue: missing).</p>"
           f"<table><tr>{head}</tr>{body}</table>{''.join(sections)}")
    path = out_dir / "index.html"
    path.write_text(doc)
    return path


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))


def _section(page: dict[str, Any]) -> str:
    src = f"{page['folder']}/"
    players = "".join(f"<figure><figcaption>{html.escape(it['method'])}</figcaption>"
                      f"<audio controls preload=none src='{src}{it['wav']}'></audio></figure>" for it in page["items"])
    return (f"<h2>{html.escape(page['track'])} — {html.escape(page['stem'])}</h2>"
            f"<img src='{src}{page['png']}' style='max-width:100%'><div class=row>{players}</div>")


_CSS = ("body{font-family:system-ui,sans-serif;margin:1.5em}.row{display:flex;flex-wrap:wrap;gap:10px}"
        "figure{margin:0;display:flex;flex-direction:column;align-items:center}figcaption{font-size:.85em}"
        "audio{width:330px}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}.note{color:#555;font-size:.85em}")
