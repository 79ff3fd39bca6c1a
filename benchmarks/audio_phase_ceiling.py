"""Issue 17, where the vocoder's gap to Griffin-Lim is: the vocoder's OWN magnitude under every phase, so only the
phase differs between rows — its own, the phase heads' oracle ceilings, and the classical reconstructions.

    python benchmarks/audio_phase_ceiling.py --data-dir ../shared/data --vocoder musdb-vocos --tracks 3

Rows per (track, stem) (mid channel of each MUSDB18-7 test stem, the vocoder's magnitude m̂ everywhere):

- ``own``: the vocoder's own waveform (its predicted phase);
- ``carrier``: the 'accumulated' head with deviations δ = 0 — ``p = π k + ω_k·hop·t``, an untrained phase vocoder;
- ``accumulated/oracle-if``: the 'accumulated' head (`genlab.models.vocoder.networks.accumulate_phase`) fed the TRUE
  instantaneous frequency of every bin (δ = the true phase advance − ω_k·hop): the best a head that only propagates
  phase along time can do — its phase across frequency at the first frame stays π k;
- ``accumulated/oracle-if+start``: the same, started from the true phase of the first frame (= the true phase);
- ``true-gd/random-frame-offset``: the true phase turned by one seeded random angle per frame (the same for every
  bin): exact across frequency — what a perfect group-delay loss asks for — and nothing along time;
- ``pghi``: phase-gradient heuristic integration from m̂ (`genlab.audio.pghi`; time and frequency directions);
- ``fgla{N}``: fast Griffin-Lim, N iterations from a seeded random phase;
- ``true-phase``: the original's phase (m̂'s own error alone).

The four magnitude metrics of the issue (`genlab.metrics.audio`), median [q25–q75] per stem over the tracks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit, machine_info, strict_json

from genlab.audio.io import default_cache_dir, is_silent
from genlab.audio.musdb import TARGETS, MusdbSource, musdb_root
from genlab.errors import GenlabError
from genlab.metrics.audio import MetricTable, compare_audio

JUDGED = ("spectral_convergence", "mr_stft", "lsd_db", "mel_distance")
DIAGNOSTICS = ("inconsistency", "rms_ratio", "phase_if", "phase_gd", "if_hold", "if_carrier")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="holds musdb/MUSDB18-7 (default: $GENLAB_DATA_DIR)")
    p.add_argument("--vocoder", default="musdb-vocos", help="vocoder snapshot: file, run directory or pretrained name")
    p.add_argument("--stems", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--tracks", type=int, default=3, help="first N test tracks by name (0 = all)")
    p.add_argument("--gl-iters", type=int, default=100)
    p.add_argument("--out", default="benchmarks/results/audio_phase_ceiling.json")
    return p.parse_args(argv)


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Angles to (−π, π]."""
    return x - 2 * torch.pi * torch.round(x / (2 * torch.pi))


def phase_rows(am, wave: torch.Tensor, gl_iters: int) -> dict[str, torch.Tensor]:
    """Every phase for the vocoder's magnitude of one (1, S) signal → waveforms (1, S)."""
    from genlab.audio.api import vocode, vocoder_polar
    from genlab.audio.pghi import pghi
    from genlab.audio.phase import griffin_lim
    from genlab.models.vocoder.networks import accumulate_phase

    stft, n = am.model.mel.stft.cpu(), wave.shape[-1]
    mag = vocoder_polar(am, wave)[0]
    true = stft(wave)
    k = torch.arange(true.shape[-2], dtype=mag.dtype)[:, None]
    omega_hop = 2 * torch.pi * k * stft.hop / stft.n_fft
    advance = torch.angle(true[..., 1:] * true[..., :-1].conj())
    delta = torch.nn.functional.pad(wrap(advance - omega_hop), (1, 0))  # δ[0] is not used by the head
    acc = accumulate_phase(delta, stft.n_fft, stft.hop)
    start = torch.angle(true[..., :1]) - acc[..., :1]  # shift each bin so frame 0 carries its true phase

    # every bin of a frame turned by the same seeded random angle: the true phase ACROSS frequency (a perfect
    # group-delay loss), nothing along time between frames
    frame_offset = 2 * torch.pi * torch.rand(true.shape[-1], generator=torch.Generator().manual_seed(0))

    def synth(phase: torch.Tensor) -> torch.Tensor:
        return stft.inverse(torch.polar(mag, phase), n)

    return {"own": vocode(am, wave),
            "carrier": synth(accumulate_phase(torch.zeros_like(mag), stft.n_fft, stft.hop)),
            "accumulated/oracle-if": synth(acc),
            "accumulated/oracle-if+start": synth(acc + start),
            "pghi": pghi(mag, stft, n, seed=0),
            f"fgla{gl_iters}": griffin_lim(mag, stft, gl_iters, 0.99, n, generator=torch.Generator().manual_seed(0)),
            "true-gd/random-frame-offset": synth(torch.angle(true) + frame_offset),
            "true-phase": synth(torch.angle(true))}


def own_diagnostics(am, wave: torch.Tensor) -> dict[str, float]:
    """What the vocoder's OWN phase does to its waveform, for one (1, S) signal: ``inconsistency`` — the re-analysed
    STFT magnitude of its waveform against the magnitude it predicted, ‖|STFT(ŵ)| − m̂‖_F / ‖m̂‖_F (0 for a consistent
    STFT; overlap-add cancelling between frames makes it large); ``rms_ratio`` — RMS of its waveform / the
    original's (< 1: the frames cancel); ``phase_if`` / ``phase_gd`` — the magnitude-weighted anti-wrapped error (rad)
    of its predicted phase's advance per frame / difference between neighbouring bins against the original STFT's
    (the training losses `lambda_phase` / `lambda_group_delay`; a uniform random phase scores π/2). For scale, the
    same along-time error of two phases that do not change from frame to frame, as any head gives on identical mel
    frames: ``if_hold`` — a constant angle per bin as the STFT measures it (what the 'absolute' head gives on a
    sustained note), ``if_carrier`` — the 'carrier' row's ω_k·hop advance (a constant angle per bin against absolute
    time; right on a sustained partial's centre bin, π/2 off on its window's side bins when hop = n_fft / 4)."""
    from genlab.audio.api import vocode, vocoder_polar
    from genlab.models.vocoder.model import group_delay_loss, instantaneous_frequency_loss
    from genlab.models.vocoder.networks import accumulate_phase

    stft = am.model.mel.stft.cpu()
    mag, phase = vocoder_polar(am, wave)
    own = vocode(am, wave)
    re_mag = stft(own).abs()
    frames = min(re_mag.shape[-1], mag.shape[-1])
    true = stft(wave)
    return {"inconsistency": float(torch.linalg.vector_norm(re_mag[..., :frames] - mag[..., :frames])
                                   / torch.linalg.vector_norm(mag[..., :frames]).clamp_min(1e-12)),
            "rms_ratio": float(own.square().mean().sqrt() / wave.square().mean().sqrt().clamp_min(1e-12)),
            "phase_if": float(instantaneous_frequency_loss(phase, true)),
            "phase_gd": float(group_delay_loss(phase, true)),
            "if_hold": float(instantaneous_frequency_loss(torch.zeros_like(phase), true)),
            "if_carrier": float(instantaneous_frequency_loss(accumulate_phase(torch.zeros_like(phase), stft.n_fft,
                                                                              stft.hop), true))}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cmd = "python benchmarks/audio_phase_ceiling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    from genlab.audio.api import load_audio_model

    src = MusdbSource(musdb_root(args.data_dir), cache_dir=default_cache_dir())
    tracks = src.tracks("test")[: args.tracks or None]
    if not tracks:
        raise GenlabError(f"{musdb_root(args.data_dir)}: no MUSDB18 test tracks (expected test/*.stem.mp4)")
    am = load_audio_model(args.vocoder, "cpu")
    if am.kind != "vocoder":
        raise GenlabError(f"--vocoder {args.vocoder}: a {am.kind} snapshot; expected a vocoder (vocos)")
    c0 = time.process_time()
    table, rows, silent = MetricTable(), [], []
    own_table, own_rows = MetricTable(), []
    with torch.no_grad():
        for track in tracks:
            for stem in args.stems:
                wave = torch.from_numpy(np.array(src.load(track, stem), dtype=np.float32)).mean(0, keepdim=True)
                if is_silent(wave.numpy()):
                    silent.append(f"{track.name} / {stem}")
                    continue
                for method, est in phase_rows(am, wave, args.gl_iters).items():
                    metrics = {m: v for m, v in compare_audio(wave, est).items() if m in JUDGED}
                    table.update(track.name, stem, method, metrics)
                    rows.append({"track": track.name, "stem": stem, "method": method, **metrics})
                diag = own_diagnostics(am, wave)
                own_table.update(track.name, stem, "own", diag)
                own_rows.append({"track": track.name, "stem": stem, **diag})
            print(f"{track.name[:40]}: {time.process_time() - c0:.0f} CPU s", file=sys.stderr, flush=True)
    summary = table.summary(("stem", "method"), list(JUDGED))
    lines = [f"Command: `{cmd}` — the vocoder's magnitude under each phase; median [q25–q75] per stem", ""]
    for stem in args.stems:
        lines += [f"**{stem}** (n = {next((r['n'] for r in summary if r['stem'] == stem), 0)} tracks)", "",
                  "| phase | " + " | ".join(JUDGED) + " |", "|---" * (len(JUDGED) + 1) + "|"]
        lines += [f"| {r['method']} | " + " | ".join(f"{r[m]['median']:.3g} [{r[m]['q25']:.3g}–{r[m]['q75']:.3g}]"
                                                   for m in JUDGED) + " |" for r in summary if r["stem"] == stem]
        lines.append("")
    own_summary = own_table.summary(("stem", "method"), list(DIAGNOSTICS))
    lines += ["**the own waveform** (`own_diagnostics`: inconsistency, RMS ratio, phase errors in rad)", "",
              "| stem | " + " | ".join(DIAGNOSTICS) + " |", "|---" * (len(DIAGNOSTICS) + 1) + "|"]
    lines += [f"| {r['stem']} | " + " | ".join(f"{r[m]['median']:.3g} [{r[m]['q25']:.3g}–{r[m]['q75']:.3g}]"
                                               for m in DIAGNOSTICS) + " |" for r in own_summary]
    lines.append("")
    md = "\n".join(lines)
    result = {"benchmark": "audio_phase_ceiling", "command": cmd, "machine": machine_info(),
              "vocoder": args.vocoder, "vocoder_step": am.generator.header.get("step"),
              "tracks": [t.name for t in tracks], "skipped_silent": silent, "cpu_s": time.process_time() - c0,
              "summary": summary, "own_summary": own_summary, "markdown": md, "rows": rows, "own_rows": own_rows}
    Path(args.out).with_suffix(".md").write_text(md + "\n")
    emit(strict_json(result), args.out)
    print(md, file=sys.stderr)


if __name__ == "__main__":
    main()
