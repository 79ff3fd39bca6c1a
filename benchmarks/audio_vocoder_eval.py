"""Issue 17: a vocoder's own waveform against Griffin-Lim, PGHI and the true phase on EVERY MUSDB18-7 test track
and stem, with the per-track table, medians and interquartile ranges per stem, and speed on one CPU thread.

    # 1. the references (model-free, but computed from the vocoder's own mel front-end: name the vocoder — a
    #    fp16 snapshot's filterbank is fp16-rounded, so its cache key differs from the default front-end's;
    #    resumable, cached per stem)
    python benchmarks/audio_vocoder_eval.py --data-dir ../shared/data --vocoder musdb-vocos --mono --museval \
        --references-only
    # 2. the model rows, the tables and the speed run (references come from the cache)
    python benchmarks/audio_vocoder_eval.py --data-dir ../shared/data --vocoder musdb-vocos --mono --museval \
        --out benchmarks/results/audio_vocoder_eval.json

Rows per (track, stem), all from the same decoded stem (float32 stereo, 44.1 kHz, each channel a mono signal):

- ``mel/<vocoder>``: the vocoder's own waveform from its log-mel (128 numbers per frame, hop 256) — the model;
- ``mel/nnls+gl100`` / ``mel/nnls+fgla100``: that same mel inverted to a linear magnitude (NNLS, 100 multiplicative
  updates), then Griffin-Lim 100 iterations (momentum 0) / fast Griffin-Lim 100 iterations (momentum 0.99) — the
  baseline on the same input; ``mel/nnls+true-phase``: the NNLS magnitude with the true phase (the mel's magnitude
  information alone);
- oracles from the TRUE STFT magnitude (513 numbers per frame; not the vocoder's input): ``true-mag/fgla100``,
  ``true-mag/pghi`` (phase-gradient heuristic integration, `genlab.audio.pghi`) and ``true-mag/true-phase`` (the
  STFT round trip: the floor of every metric);
- with ``--spectral-ae RUN`` (issue 17's "earn its place" test, for the stems it was trained on): the spectral
  autoencoder's magnitude from its 128-number-per-frame code (``code/<run>+fgla100``, ``code/<run>+true-phase``), to
  set against the mel rows at equal code size (128 numbers per frame, hop 256 on both sides).

Metrics (`genlab.metrics.audio`): spectral convergence, MR-STFT, log-spectral distance, mel distance (the four the
issue judges: magnitude only, lower is better), SI-SDR and, with --museval, museval SDR (waveform: they compare
samples, so any phase other than the original — even a perfect magnitude with a valid, different phase — scores
near or below 0 dB; they rank only methods that copy the true phase). Silent stems: a stem whose RMS over the whole
preview is below −60 dBFS (`genlab.audio.io.is_silent`) has no defined reference for ratios and no spectrum to
judge; it is left out of every row and listed under ``skipped_silent`` with its level, so ``n`` per stem says how
many stem-tracks each median covers. Median and interquartile range (q25–q75) are over tracks per stem × method.

Speed (``--speed-tracks``, default 3; 0 = off): one CPU thread, the vocoder's whole path (log-mel + network + iSTFT)
against mel → NNLS → Griffin-Lim 100 and fast Griffin-Lim 100, as times faster than real time (audio seconds per
processing second), from process CPU time (robust to other jobs on the machine) and from wall time, median over
the vocals stems of the first tracks (fastest of --speed-repeats runs each), in the same run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_model, emit, machine_info, strict_json

from genlab.audio.evaluation import default_mel_front_end, front_end_signature, reference_estimates
from genlab.audio.io import default_cache_dir, is_silent, rms_dbfs
from genlab.audio.musdb import TARGETS, MusdbSource, musdb_root
from genlab.errors import GenlabError
from genlab.metrics.audio import MetricTable, compare_audio

SR = 44100
JUDGED = ("spectral_convergence", "mr_stft", "lsd_db", "mel_distance")
REPORTED = (*JUDGED, "si_sdr_db", "sdr_museval_db")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="holds musdb/MUSDB18-7 (default: $GENLAB_DATA_DIR)")
    p.add_argument("--vocoder", default=None, help="vocoder snapshot: file, run directory or pretrained name")
    p.add_argument("--spectral-ae", default=None, help="spectral-ae snapshot for the equal-code-size rows")
    p.add_argument("--spectral-ae-stems", nargs="+", default=["vocals"], choices=list(TARGETS))
    p.add_argument("--stems", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--tracks", type=int, default=0, help="first N test tracks by name (0 = all)")
    p.add_argument("--gl-iters", type=int, default=100)
    p.add_argument("--model-gl", action="store_true",
                   help="also the vocoder's magnitude with the baseline's fast Griffin-Lim (~3 CPU-s per mono stem)")
    p.add_argument("--museval", action="store_true",
                   help="also museval (BSS Eval v4) SDR on the rows from the mel (model and baselines)")
    p.add_argument("--mono", action="store_true",
                   help="evaluate the mid channel (L+R)/2 of each stem instead of both channels (half the CPU)")
    p.add_argument("--references-only", action="store_true", help="fill the reference cache and stop")
    p.add_argument("--cached-only", action="store_true",
                   help="evaluate only the (track, stem) pairs whose references are cached (n says how many)")
    p.add_argument("--cache-dir", type=Path, default=Path("runs/audio-vocoder-eval-cache"),
                   help="per-track reference rows (JSON lines), reused when the front-end and settings match")
    p.add_argument("--speed-tracks", type=int, default=3, help="tracks timed for the speed block (0 = none)")
    p.add_argument("--speed-repeats", type=int, default=3, help="runs per path and track; the fastest counts")
    p.add_argument("--out", default="benchmarks/results/audio_vocoder_eval.json")
    p.add_argument("--csv", default=None, help="per-track table (default: --out with .csv)")
    p.add_argument("--md", default=None, help="markdown summary (default: --out with .md)")
    return p.parse_args(argv)


# --- rows ---------------------------------------------------------------------------------------------------------
def _load_cache(path: Path) -> dict[tuple[str, str], dict]:
    rows: dict[tuple[str, str], dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                rows[(entry["track"], entry["stem"])] = entry
    return rows


def reference_rows(args, src, tracks, stems, mel_mod, silent: list) -> tuple[list[dict], dict]:
    """Reference rows for every (track, stem), from the cache or computed (and appended to it)."""
    settings = (f"{front_end_signature(mel_mod)}-gl{args.gl_iters}-{'museval' if args.museval else 'nomuseval'}"
                f"{'-mono' if args.mono else ''}")
    folder = args.cache_dir / settings
    folder.mkdir(parents=True, exist_ok=True)
    rows, timings = [], {}
    paths = {stem: folder / f"{stem}.jsonl" for stem in stems}
    cached = {stem: _load_cache(path) for stem, path in paths.items()}
    for k, track in enumerate(tracks):  # track-major: a run cut short still covers every stem of its first tracks
        for stem in stems:
            if (track.name, stem) in cached[stem]:
                entry = cached[stem][(track.name, stem)]
                rows += entry["rows"]
                if "silent_rms_dbfs" in entry:
                    silent.append({"track": track.name, "stem": stem, "rms_dbfs": entry["silent_rms_dbfs"]})
                continue
            if args.cached_only:
                continue
            audio = _channels(np.array(src.load(track, stem), dtype=np.float32), args.mono)
            if is_silent(audio):  # recorded in the cache too, so a --cached-only run knows it
                silent.append({"track": track.name, "stem": stem, "rms_dbfs": round(rms_dbfs(audio), 1)})
                with paths[stem].open("a") as f:
                    f.write(json.dumps({"track": track.name, "stem": stem, "rows": [],
                                        "silent_rms_dbfs": silent[-1]["rms_dbfs"]}) + "\n")
                continue
            wave = torch.from_numpy(audio)
            t0 = time.process_time()
            ests = reference_estimates(wave, mel_mod, args.gl_iters, timings=timings)
            new = [{"track": track.name, "stem": stem, "method": m,
                    **compare_audio(wave, e, SR, args.museval and m.startswith("mel/"))} for m, e in ests.items()]
            with paths[stem].open("a") as f:  # one line per (track, stem): a killed run resumes where it stopped
                f.write(json.dumps({"track": track.name, "stem": stem, "rows": new}) + "\n")
            rows += new
            print(f"[{k + 1}/{len(tracks)} {stem}] {track.name[:40]}: references in {time.process_time() - t0:.1f} "
                  "CPU s", file=sys.stderr, flush=True)
    return rows, timings


def _channels(audio: np.ndarray, mono: bool) -> np.ndarray:
    """(C, S) as loaded, or its mid channel (1, S)."""
    return audio.mean(0, keepdims=True) if mono else audio


def _wave(src, track, stem, mono: bool) -> torch.Tensor | None:
    audio = _channels(np.array(src.load(track, stem), dtype=np.float32), mono)
    return None if is_silent(audio) else torch.from_numpy(audio)


def model_rows(args, src, tracks, stems, vocoder, spectral, pairs: set) -> list[dict]:
    """The vocoder's own waveform (and the spectral-ae's rows) for every non-silent (track, stem) in `pairs` (those
    with reference rows)."""
    from genlab.audio.api import vocode, vocoder_polar
    from genlab.audio.phase import griffin_lim, oracle_phase
    from genlab.audio.sampling import spectral_magnitude

    rows = []
    for k, track in enumerate(tracks):
        for stem in stems:
            wave = _wave(src, track, stem, args.mono) if (track.name, stem) in pairs else None
            if wave is None:
                continue
            ests = {}
            if vocoder is not None:
                label, stft = f"mel/{vocoder.name}", vocoder.model.mel.stft.cpu()
                ests[label] = vocode(vocoder, wave)
                # where the gap is: its magnitude with the true phase (and, with --model-gl, with the baseline's
                # own fast Griffin-Lim, same seed) — against mel/nnls+true-phase (mel/nnls+fgla) only the magnitude
                # differs
                mag = vocoder_polar(vocoder, wave)[0]
                if args.model_gl:
                    ests[f"{label}/mag+fgla{args.gl_iters}"] = griffin_lim(
                        mag, stft, args.gl_iters, 0.99, wave.shape[-1], generator=torch.Generator().manual_seed(0))
                ests[f"{label}/mag+true-phase"] = oracle_phase(mag, wave, stft)
            if spectral is not None and stem in args.spectral_ae_stems:
                mag, stft = spectral_magnitude(spectral, wave), spectral.codec.stft.cpu()
                gen = torch.Generator().manual_seed(0)
                ests[f"code/{spectral.name}+fgla{args.gl_iters}"] = griffin_lim(mag, stft, args.gl_iters, 0.99,
                                                                                 wave.shape[-1], generator=gen)
                ests[f"code/{spectral.name}+true-phase"] = oracle_phase(mag, wave, stft)
            rows += [{"track": track.name, "stem": stem, "method": m, **compare_audio(wave, e, SR, args.museval)}
                     for m, e in ests.items()]
        print(f"[models {k + 1}/{len(tracks)}] {track.name[:40]}", file=sys.stderr, flush=True)
    return rows


# --- speed --------------------------------------------------------------------------------------------------------
def speed(args, src, tracks, vocoder, mel_mod) -> dict:
    """Times faster than real time on one thread: process CPU seconds and wall seconds, median over tracks."""
    from genlab.audio.api import vocode
    from genlab.audio.phase import griffin_lim, mel_to_linear

    stft = mel_mod.stft

    def mel_gl(wave, momentum):
        with torch.no_grad():
            mel = mel_mod.from_magnitude(stft(wave).abs()).clamp_min(1e-5)
            mag = mel_to_linear(mel, mel_mod.filterbank, "nnls", 100)
            return griffin_lim(mag, stft, args.gl_iters, momentum, wave.shape[-1],
                               generator=torch.Generator().manual_seed(0))

    paths = {f"mel/nnls+gl{args.gl_iters}": lambda w: mel_gl(w, 0.0),
             f"mel/nnls+fgla{args.gl_iters}": lambda w: mel_gl(w, 0.99)}
    if vocoder is not None:
        vocode(vocoder, torch.zeros(2, SR))  # warm-up (first-call allocations)
        paths = {f"mel/{vocoder.name}": lambda w: vocode(vocoder, w),
                 f"mel/{vocoder.name} (left channel only)": lambda w: vocode(vocoder, w[:1])} | paths
    cpu: dict[str, list[float]] = {k: [] for k in paths}
    wall: dict[str, list[float]] = {k: [] for k in paths}
    audio_s = []
    for track in tracks[: args.speed_tracks]:
        wave = torch.from_numpy(np.array(src.load(track, "vocals"), dtype=np.float32))
        audio_s.append(wave.shape[-1] / SR)
        for label, fn in paths.items():
            best_cpu = best_wall = float("inf")
            for _ in range(max(1, args.speed_repeats)):
                c0, t0 = time.process_time(), time.perf_counter()
                fn(wave)
                best_cpu, best_wall = min(best_cpu, time.process_time() - c0), min(best_wall, time.perf_counter() - t0)
            cpu[label].append(audio_s[-1] / best_cpu)
            wall[label].append(audio_s[-1] / best_wall)
    med = {k: {"x_realtime_cpu": statistics.median(cpu[k]), "x_realtime_wall": statistics.median(wall[k])}
           for k in paths}
    return {"cpu": cpu_model(), "threads": torch.get_num_threads(),
            "tracks": [t.name for t in tracks[: args.speed_tracks]],
            "repeats": args.speed_repeats, "load_avg_1_5_15": list(os.getloadavg()),
            "stem": "vocals", "channels": 2, "audio_seconds": audio_s, "x_realtime": med,
            "note": "x_realtime = seconds of stereo 44.1 kHz audio per second of processing (higher is faster); "
                    "cpu = process CPU time (one thread; contention still inflates it a little through shared "
                    "caches), wall = elapsed time; the vocoder path includes its log-mel and iSTFT, the Griffin-Lim "
                    "paths the mel, NNLS and the iterations. '(left channel only)' vocodes one channel of the same "
                    "stereo seconds: half the work, the figure a mono benchmark quotes"}


# --- summaries ----------------------------------------------------------------------------------------------------
def summarise(table: MetricTable, methods: list[str]) -> list[dict]:
    order = {m: i for i, m in enumerate(methods)}
    out = table.summary(("stem", "method"), [m for m in REPORTED if m in table.metric_names()])
    stems = {s: i for i, s in enumerate(TARGETS)}
    return sorted(out, key=lambda r: (stems.get(r["stem"], 9), order.get(r["method"], 99), r["method"]))


def markdown(summary: list[dict], cmd: str, vocoder_name: str | None, silent: list, timing: dict | None) -> str:
    """Per stem: median [q25–q75] of each metric per method; the model's row in bold where it beats both
    Griffin-Lim baselines on a judged metric."""
    names = {"spectral_convergence": "spectral conv. ↓", "mr_stft": "MR-STFT ↓", "lsd_db": "LSD dB ↓",
             "mel_distance": "mel dist. ↓", "si_sdr_db": "SI-SDR dB", "sdr_museval_db": "museval SDR dB"}
    metrics = [m for m in REPORTED if any(m in r for r in summary)]
    lines = [f"Command: `{cmd}`", ""]
    for stem in TARGETS:
        rows = [r for r in summary if r["stem"] == stem]
        if not rows:
            continue
        lines += [f"**{stem}** (n = {rows[0]['n']} tracks; median [q25–q75])", "",
                  "| method | " + " | ".join(names[m] for m in metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for r in rows:
            cells = [f"{_num(r[m]['median'])} [{_num(r[m]['q25'])}–{_num(r[m]['q75'])}]" for m in metrics]
            lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [("SI-SDR and museval SDR compare samples, so any phase other than the original scores near or below "
               "0 dB even under a perfect magnitude: they rank only the rows that copy the true phase."), ""]
    if timing:
        lines += [(f"Speed, one CPU thread ({timing['cpu']}; load {timing['load_avg_1_5_15'][0]:.1f}), times real "
                   f"time on {len(timing['tracks'])} stereo vocals stems, fastest of {timing['repeats']} runs:"), "",
                  "| path | × real time (process CPU) | × real time (wall) |", "|---|---|---|"]
        lines += [f"| {k} | {v['x_realtime_cpu']:.1f} | {v['x_realtime_wall']:.1f} |"
                  for k, v in timing["x_realtime"].items()]
        lines.append("")
    if silent:
        lines.append("Left out as silent (RMS < −60 dBFS over the preview): " +
                     ", ".join(f"{s['track']} / {s['stem']} ({s['rms_dbfs']} dBFS)" for s in silent) + ".")
    return "\n".join(lines)


def wins(summary: list[dict], model: str, baselines: list[str]) -> dict:
    """Per stem and judged metric: does the model's median beat every baseline's median?"""
    out = {}
    for stem in TARGETS:
        rows = {r["method"]: r for r in summary if r["stem"] == stem}
        if model not in rows:
            continue
        out[stem] = {m: all(rows[model][m]["median"] < rows[b][m]["median"] for b in baselines if b in rows)
                     for m in JUDGED}
    return out


def _num(v) -> str:
    if v is None or not np.isfinite(v):
        return "inf" if v is not None and v > 0 else "–"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def to_csv(rows: list[dict]) -> str:
    cols = ["track", "stem", "method", *[m for m in REPORTED if any(m in r for r in rows)], "snr_db"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    cmd = "python benchmarks/audio_vocoder_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    from genlab.audio.api import load_audio_model

    src = MusdbSource(musdb_root(args.data_dir), cache_dir=default_cache_dir())
    tracks = src.tracks("test")
    if not tracks:
        raise GenlabError(f"{musdb_root(args.data_dir)}: no MUSDB18 test tracks (expected test/*.stem.mp4)")
    tracks = tracks[: args.tracks or None]
    vocoder = load_audio_model(args.vocoder, "cpu") if args.vocoder else None
    if vocoder is not None and vocoder.kind != "vocoder":
        raise GenlabError(f"--vocoder {args.vocoder}: a {vocoder.kind} snapshot; expected a vocoder (vocos)")
    if vocoder is not None:
        vocoder.name = Path(str(args.vocoder)).stem if Path(str(args.vocoder)).suffix else Path(args.vocoder).name
    spectral = load_audio_model(args.spectral_ae, "cpu", name="spectral-ae") if args.spectral_ae else None
    mel_mod = vocoder.model.mel.cpu() if vocoder is not None else default_mel_front_end()
    t0, c0 = time.perf_counter(), time.process_time()
    silent: list[dict] = []
    ref_rows, timings = reference_rows(args, src, tracks, args.stems, mel_mod, silent)
    if args.references_only:
        print(json.dumps({"references": len(ref_rows), "cpu_s": time.process_time() - c0}))
        return
    pairs = {(r["track"], r["stem"]) for r in ref_rows}
    rows = ref_rows + model_rows(args, src, tracks, args.stems, vocoder, spectral, pairs)
    eval_wall, eval_cpu = time.perf_counter() - t0, time.process_time() - c0
    table = MetricTable()
    for r in rows:
        table.update(r["track"], r["stem"], r["method"], {k: v for k, v in r.items()
                                                          if k not in ("track", "stem", "method")})
    model = f"mel/{vocoder.name}" if vocoder is not None else None
    baselines = [f"mel/nnls+gl{args.gl_iters}", f"mel/nnls+fgla{args.gl_iters}"]
    methods = ([model] if model else []) + baselines + (
        [f"{model}/mag+fgla{args.gl_iters}"] if model else []) + ["mel/nnls+true-phase"] + (
        [f"{model}/mag+true-phase"] if model else []) + [f"true-mag/fgla{args.gl_iters}", "true-mag/pghi",
                                                          "true-mag/true-phase"]
    summary = summarise(table, methods)
    timing = speed(args, src, tracks, vocoder, mel_mod) if args.speed_tracks > 0 else None
    md = markdown(summary, cmd, model, silent, timing)
    result = {
        "benchmark": "audio_vocoder_eval", "command": cmd, "machine": machine_info(),
        "data": {"root": str(musdb_root(args.data_dir)), "subset": "test", "tracks_requested": len(tracks),
                 "tracks_evaluated": {st: len({r["track"] for r in rows if r["stem"] == st}) for st in args.stems},
                 "stems": args.stems, "skipped_silent": silent, "silence_rule": "RMS < -60 dBFS over the preview"},
        "vocoder": str(args.vocoder) if args.vocoder else None,
        "vocoder_header": {k: vocoder.generator.header.get(k) for k in ("family", "step", "images_seen",
                                                                         "train_seconds")} if vocoder else None,
        "spectral_ae": str(args.spectral_ae) if args.spectral_ae else None,
        "front_end": front_end_signature(mel_mod), "gl_iters": args.gl_iters, "museval": args.museval,
        "evaluation_wall_s": eval_wall, "evaluation_cpu_s": eval_cpu,
        "reference_timings_wall_median_s": {k: statistics.median(v) for k, v in timings.items()},
        "model_beats_both_griffin_lim": wins(summary, model, baselines) if model else None,
        "model_magnitude_with_fgla_beats_both_griffin_lim":
            wins(summary, f"{model}/mag+fgla{args.gl_iters}", baselines) if model and args.model_gl else None,
        "summary": summary, "markdown": md, "speed": timing,
        "rows": rows,
    }
    out = Path(args.out)
    Path(args.csv or out.with_suffix(".csv")).write_text(to_csv(rows))
    Path(args.md or out.with_suffix(".md")).write_text(md + "\n")
    emit(strict_json(result), args.out)
    print(md, file=sys.stderr)


if __name__ == "__main__":
    main()
