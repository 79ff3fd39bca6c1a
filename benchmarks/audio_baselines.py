"""Phase-reconstruction baselines on real MUSDB18 test stems — the numbers the audio models must beat.

For each of the first `--tracks` test tracks (sorted by name) and each stem, the stem is decoded, turned into
(a) its linear STFT magnitude and (b) its log-mel magnitude (inverted to a linear magnitude with NNLS), and audio is
rebuilt from that magnitude with fast Griffin-Lim (32 and 100 iterations, momentum 0.99) and with the oracle phase
(the original signal's phase). Every reconstruction is compared with the original stem (SI-SDR, SNR, LSD, spectral
convergence, multi-resolution STFT, mel distance; museval SDR with --museval). Medians over tracks go to the JSON,
with decode time and Griffin-Lim's real-time factor (processing seconds per second of audio, CPU).

Silent stems (RMS < −60 dBFS) are skipped and listed: ratios against a silent reference are undefined.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/audio_baselines.py --data-dir /work/shared/data --tracks 3 \
        --out benchmarks/results/audio_baselines.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import strict_json

from genlab.audio.io import decode_stream, is_silent, rms_dbfs
from genlab.audio.musdb import TARGETS, MusdbSource, musdb_root
from genlab.audio.phase import griffin_lim, mel_to_linear, oracle_phase
from genlab.audio.transforms import SpectrogramCodec, SpectrogramConfig
from genlab.metrics.audio import MetricTable, compare_audio

GL_ITERS = (32, 100)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="holds musdb/MUSDB18-7 (default: $GENLAB_DATA_DIR)")
    p.add_argument("--tracks", type=int, default=3, help="number of test tracks (first N by name)")
    p.add_argument("--stems", nargs="+", default=list(TARGETS), choices=list(TARGETS) + ["mixture"])
    p.add_argument("--n-fft", type=int, default=2048)
    p.add_argument("--hop", type=int, default=512)
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--mel-nnls-iters", type=int, default=100)
    p.add_argument("--museval", action="store_true", help="also compute museval (BSS Eval v4) SDR (~3 s each)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/audio_baselines.json"))
    return p.parse_args(argv)


def timed(fn, *args, **kwargs):
    """(result, seconds)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def reconstructions(wave: torch.Tensor, magnitude: torch.Tensor, codec: SpectrogramCodec) -> dict:
    """{method: (waveform (C, S), seconds)} for Griffin-Lim at each iteration count and the oracle phase."""
    out = {}
    for n in GL_ITERS:
        gen = torch.Generator().manual_seed(0)
        out[f"gl{n}"] = timed(griffin_lim, magnitude, codec.stft, n, 0.99, length=wave.shape[-1], generator=gen)
    out["oracle"] = timed(oracle_phase, magnitude, wave, codec.stft)
    return out


def evaluate_stem(wave: torch.Tensor, codecs: dict, args, table: MetricTable, track: str, stem: str,
                  timings: dict) -> None:
    """Both inputs × all methods for one stem; rows go to `table`, seconds to `timings`."""
    for name, codec in codecs.items():
        with torch.no_grad():
            mag = codec.magnitude(wave)
            if name == "mel":
                mag, secs = timed(mel_to_linear, mag, codec.mel.filterbank, "nnls", args.mel_nnls_iters)
                timings.setdefault("mel_inversion_s", []).append(secs)
            for method, (est, secs) in reconstructions(wave, mag, codec).items():
                timings.setdefault(f"{method}_s", []).append(secs)
                table.update(track, stem, f"{name}/{method}", compare_audio(wave, est, 44100, args.museval))
        print(f"  {track[:32]:32s} {stem:7s} {name}: done", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    src = MusdbSource(musdb_root(args.data_dir))
    tracks = src.tracks("test")[: args.tracks]
    base = {"n_fft": args.n_fft, "hop": args.hop, "n_mels": args.n_mels, "normalise": False}
    codecs = {"stft": SpectrogramCodec(SpectrogramConfig(kind="stft", **base)),
              "mel": SpectrogramCodec(SpectrogramConfig(kind="mel", **base))}
    table, timings, skipped, audio_s = MetricTable(), {"decode_s": []}, [], []
    for t in tracks:
        for stem in args.stems:
            audio, secs = timed(decode_stream, t.path, stem)
            timings["decode_s"].append(secs)
            if is_silent(audio):
                skipped.append({"track": t.name, "stem": stem, "rms_dbfs": rms_dbfs(audio)})
                continue
            audio_s.append(audio.shape[-1] / 44100)
            evaluate_stem(torch.from_numpy(np.ascontiguousarray(audio)), codecs, args, table, t.name, stem, timings)
    return summarise(args, tracks, table, timings, skipped, audio_s)


def summarise(args, tracks, table: MetricTable, timings: dict, skipped: list, audio_s: list) -> dict:
    dur = statistics.median(audio_s) if audio_s else float("nan")
    speed = {k: statistics.median(v) for k, v in timings.items() if v}
    speed.update({f"rtf_gl{n}": speed[f"gl{n}_s"] / dur for n in GL_ITERS if f"gl{n}_s" in speed})
    return {
        "benchmark": "audio_baselines",
        "data": {"root": str(musdb_root(args.data_dir)), "subset": "test", "tracks": [t.name for t in tracks],
                 "stems": args.stems, "median_duration_s": dur, "skipped_silent": skipped},
        "config": {k: v for k, v in vars(args).items() if k != "out"} | {"gl_momentum": 0.99, "gl_iters": GL_ITERS},
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
                        "machine": platform.machine()},
        "timing_median": speed,
        "median_by_method": table.compute(("method",)),
        "median_by_stem_method": table.compute(("stem", "method")),
        "rows": json.loads(table.to_json())["rows"],
        "markdown_by_method": table.to_markdown(("method",)),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(strict_json(result), indent=1, allow_nan=False))
    print(result["markdown_by_method"])
    print(json.dumps(result["timing_median"], indent=1))


if __name__ == "__main__":
    main()
