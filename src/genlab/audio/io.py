"""Audio input/output: decode `.stem.mp4` streams with ffmpeg, read/write WAV, resample, channel handling, caching.

Layout: every waveform here is a float32 NumPy array ``(C, S)`` — channels first, samples last, values in [-1, 1] —
so ``torch.from_numpy(x)[None]`` is the ``(N, C, S)`` batch the transforms take.

MUSDB18 `.stem.mp4` files (Native Instruments "stems") hold five AAC streams in a fixed order (the musdb convention):
0 mixture, 1 drums, 2 bass, 3 other, 4 vocals, plus a cover-art picture stream, so audio streams are selected with
``-map 0:a:K`` (not ``0:K``).

Decoding is the slow step (~0.1–0.3 s per 7-s stream), so decoded audio is cached as ``.npy`` files keyed by the
source's absolute path, modification time, size, stream, rate and channel count; a changed file misses the cache.
Cache files are written atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

STEM_STREAMS: dict[str, int] = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}
SAMPLE_RATE_HZ = 44100
SILENCE_DBFS = -60.0  # RMS below this (dB re full scale) counts as a silent stem
# One frame of the largest STFT genlab's audio models use (n_fft 2048, centred): shorter inputs have no frame.
MIN_INPUT_SAMPLES = 2048
# A decoded stream may fall short of the container's duration by AAC priming/padding (1024 samples a side) and
# rounding; anything shorter than this tolerance means the file ended early.
DECODE_SLACK_S = 0.1


class AudioWarning(UserWarning):
    """Something was changed or looks wrong but processing continued (resampling, silent stem, channel mixing)."""


@dataclass(frozen=True)
class StreamInfo:
    """One audio stream of a container, as ffprobe reports it."""

    index: int  # audio-stream index K (as in ``-map 0:a:K``)
    sample_rate_hz: int
    channels: int
    codec: str
    duration_s: float | None = None  # as the container declares it (None when it does not say)


# --- ffmpeg ---------------------------------------------------------------------------------------------------------
def find_ffmpeg(tool: str = "ffmpeg") -> str:
    """Path of the ffmpeg (or ffprobe) executable; GenlabError naming the install command if it is missing."""
    path = shutil.which(tool)
    if path is None:
        raise GenlabError(
            f"'{tool}' was not found on PATH; it is needed to decode .stem.mp4 files "
            "(Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"
        )
    return path


def _run(cmd: list[str], path: Path) -> bytes:
    """Run an ffmpeg tool; on failure raise GenlabError with the file and ffmpeg's last stderr line.

    ffmpeg exits 0 on a file cut short (it decodes what is there and logs "partial file"), so any stderr line saying
    the input is partial or invalid is an error too."""
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if proc.returncode != 0:
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise GenlabError(f"cannot decode audio file '{path}': {last}")
    damaged = [ln for ln in lines if "partial file" in ln or "Invalid data" in ln]
    if damaged:
        raise GenlabError(f"audio file '{path}' is truncated or damaged (ffmpeg: {damaged[-1]})")
    return proc.stdout


def probe_streams(path: str | Path) -> list[StreamInfo]:
    """The audio streams of a container file (ffprobe; memoised per path, mtime and size)."""
    path = _existing(path)
    st = path.stat()
    return list(_probe(str(path.resolve()), st.st_mtime_ns, st.st_size, find_ffmpeg("ffprobe")))


@lru_cache(maxsize=1024)
def _probe(path: str, mtime_ns: int, size: int, ffprobe: str) -> tuple[StreamInfo, ...]:
    cmd = [ffprobe, "-v", "error", "-select_streams", "a", "-show_entries",
           "stream=sample_rate,channels,codec_name,duration", "-of", "json", path]
    streams = json.loads(_run(cmd, Path(path)) or b"{}").get("streams", [])
    return tuple(StreamInfo(k, int(s.get("sample_rate", 0)), int(s.get("channels", 0)), s.get("codec_name", "?"),
                            _float_or_none(s.get("duration")))
                 for k, s in enumerate(streams))


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "N/A") else None
    except ValueError:
        return None


def stream_index(stem: str | int) -> int:
    """Audio-stream index of a MUSDB stem name ('vocals' → 4) or an int passed through."""
    if isinstance(stem, int):
        return stem
    if stem not in STEM_STREAMS:
        raise GenlabError(f"unknown stem '{stem}'; expected one of {', '.join(STEM_STREAMS)}")
    return STEM_STREAMS[stem]


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"audio file not found: '{path}'")
    return path


def decode_stream(path: str | Path, stream: str | int = 0, sample_rate_hz: int = SAMPLE_RATE_HZ,
                  channels: int = 2, start_s: float = 0.0, duration_s: float | None = None) -> np.ndarray:
    """Decode audio stream K of a container (e.g. a `.stem.mp4`) to float32 ``(channels, S)`` at `sample_rate_hz`.

    ffmpeg resamples and up/down-mixes when the stream differs; a warning says so. `start_s`/`duration_s` read a
    window only (for tracks too long to hold in memory).
    """
    path, k = _existing(path), stream_index(stream)
    infos = probe_streams(path)
    if k >= len(infos):
        raise GenlabError(f"'{path}' has {len(infos)} audio stream(s); stream {k} ('{stream}') was requested")
    _warn_conversion(path, infos[k], sample_rate_hz, channels)
    cmd = [find_ffmpeg(), "-nostdin", "-v", "error"]
    cmd += ["-ss", f"{start_s:.6f}"] if start_s > 0 else []
    cmd += ["-i", str(path), "-map", f"0:a:{k}"]
    cmd += ["-t", f"{duration_s:.6f}"] if duration_s is not None else []
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sample_rate_hz), "-"]
    raw = np.frombuffer(_run(cmd, path), dtype="<f4")
    audio = np.ascontiguousarray(raw.reshape(-1, channels).T, dtype=np.float32)
    _check_decoded_length(path, k, audio.shape[1] / sample_rate_hz, infos[k].duration_s, start_s, duration_s)
    return check_audio(audio, path)


def _check_decoded_length(path: Path, k: int, got_s: float, stream_s: float | None, start_s: float,
                          duration_s: float | None) -> None:
    """GenlabError when ffmpeg returned less audio than the container declares for the window asked for."""
    if stream_s is None:
        return
    expected_s = max(0.0, stream_s - start_s)
    if duration_s is not None:
        expected_s = min(expected_s, duration_s)
    if got_s < expected_s - DECODE_SLACK_S:
        raise GenlabError(f"audio file '{path}' is truncated: stream {k} declares {stream_s:.2f} s but only "
                          f"{got_s:.2f} s of the {expected_s:.2f} s asked for could be decoded")


def _warn_conversion(path: Path, info: StreamInfo, sample_rate_hz: int, channels: int) -> None:
    if info.sample_rate_hz and info.sample_rate_hz != sample_rate_hz:
        warnings.warn(f"'{path.name}' stream {info.index}: resampling {info.sample_rate_hz} Hz → {sample_rate_hz} Hz",
                      AudioWarning, stacklevel=3)
    if info.channels and info.channels != channels:
        warnings.warn(f"'{path.name}' stream {info.index}: {info.channels} channel(s) mixed to {channels}",
                      AudioWarning, stacklevel=3)


# --- WAV ------------------------------------------------------------------------------------------------------------
def _soundfile():
    try:
        import soundfile
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise GenlabError("reading WAV needs the 'soundfile' package: pip install 'genlab[audio]'") from e
    return soundfile


def read_wav(path: str | Path, sample_rate_hz: int | None = SAMPLE_RATE_HZ, channels: int | None = 2,
             start_s: float = 0.0, duration_s: float | None = None, strict_rate: bool = False,
             min_samples: int = 1) -> np.ndarray:
    """Read a WAV/FLAC file as float32 ``(channels, S)``.

    A file at another rate is resampled to `sample_rate_hz` with a warning (or, with ``strict_rate``, rejected);
    ``sample_rate_hz=None`` keeps the file's rate, ``channels=None`` keeps its channel count. A truncated WAV (its
    data chunk declares more bytes than the file holds), NaN/Inf samples, or fewer than `min_samples` samples
    (e.g. `MIN_INPUT_SAMPLES`, one STFT frame) are refused with GenlabError naming the file.
    """
    sf, path = _soundfile(), _existing(path)
    check_wav_complete(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            f.seek(round(start_s * rate))
            frames = -1 if duration_s is None else round(duration_s * rate)
            data = f.read(frames, dtype="float32", always_2d=True).T
    except (RuntimeError, ValueError) as e:  # soundfile raises LibsndfileError (a RuntimeError) on unreadable files
        raise GenlabError(f"cannot read audio file '{path}': {str(e).splitlines()[-1]}") from e
    check_audio(data, path, min_samples)
    if sample_rate_hz is not None and rate != sample_rate_hz:
        if strict_rate:
            raise GenlabError(f"'{path}' has sample rate {rate} Hz; expected {sample_rate_hz} Hz")
        warnings.warn(f"'{path.name}': resampling {rate} Hz → {sample_rate_hz} Hz", AudioWarning, stacklevel=2)
        data = resample(data, rate, sample_rate_hz)
    return data if channels is None else to_channels(data, channels, name=path.name)


def check_audio(audio: np.ndarray, path: str | Path, min_samples: int = 1) -> np.ndarray:
    """`audio` ``(C, S)`` unchanged, or GenlabError naming `path` when it has fewer than `min_samples` samples or
    holds NaN/Inf (which every transform downstream would turn into full-scale noise)."""
    need = max(1, min_samples)
    if audio.shape[-1] < need:
        what = "no audio samples (0 frames)" if audio.shape[-1] == 0 else f"only {audio.shape[-1]} samples"
        frame = " (one STFT frame)" if need > 1 else ""
        raise GenlabError(f"audio file '{path}' has {what}; expected at least {need}{frame}")
    bad = ~np.isfinite(audio)
    if bad.any():
        first = int(np.argwhere(bad)[0][-1])
        raise GenlabError(f"audio file '{path}' holds {int(bad.sum())} NaN/Inf sample(s) (first at sample {first}); "
                          "expected finite values in [-1, 1]")
    return audio


def check_wav_complete(path: Path) -> None:
    """GenlabError when a RIFF/WAVE file's data chunk declares more bytes than the file holds (a cut-off copy);
    other formats, and streaming WAVs whose size field is 0 or 0xFFFFFFFF (unknown), are not checked here."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                held = size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > held:
                    raise GenlabError(f"audio file '{path}' is truncated: its data chunk declares {chunk_size} bytes "
                                      f"but the file holds {held} ({100 * held / chunk_size:.0f}%)")
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def wav_info(path: str | Path) -> tuple[int, int, int]:
    """(sample_rate_hz, channels, num_samples) of a WAV/FLAC file, without reading the samples."""
    info = _soundfile().info(str(_existing(path)))
    return int(info.samplerate), int(info.channels), int(info.frames)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
              subtype: str = "PCM_16") -> Path:
    """Write ``(C, S)`` float audio to a WAV file atomically (temp file + rename); values are clipped to [-1, 1]."""
    sf, path = _soundfile(), Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise GenlabError(f"write_wav '{path}': expected audio of shape (channels, samples), got {audio.shape}")
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0).T, int(sample_rate_hz), subtype=subtype, format="WAV")
    return path


# --- conversions ----------------------------------------------------------------------------------------------------
def resample(audio: np.ndarray, orig_hz: int, target_hz: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser window) along the last axis; float32 out."""
    if orig_hz == target_hz:
        return np.asarray(audio, dtype=np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(orig_hz), int(target_hz))
    out = resample_poly(audio, int(target_hz) // g, int(orig_hz) // g, axis=-1)
    return out.astype(np.float32)


def to_channels(audio: np.ndarray, channels: int, name: str = "audio") -> np.ndarray:
    """Mono → stereo by duplication; any → mono by averaging; ``(C, S)`` in and out."""
    c = audio.shape[0]
    if c == channels:
        return audio
    if c == 1:
        return np.repeat(audio, channels, axis=0)
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    raise GenlabError(f"'{name}' has {c} channels; cannot convert to {channels} (expected mono or {channels})")


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (a full-scale sine is −3 dB); −inf for digital silence."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def is_silent(audio: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the RMS level is below `threshold_dbfs` (e.g. a vocals stem of an instrumental track)."""
    return rms_dbfs(audio) < threshold_dbfs


def warn_if_silent(audio: np.ndarray, what: str, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """Warn (AudioWarning) and return True when `audio` is silent; metrics on silent references are undefined."""
    silent = is_silent(audio, threshold_dbfs)
    if silent:
        warnings.warn(f"{what} is silent (RMS {rms_dbfs(audio):.1f} dBFS < {threshold_dbfs} dBFS)",
                      AudioWarning, stacklevel=2)
    return silent


# --- cache ----------------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$GENLAB_CACHE_DIR/audio``, else ``$XDG_CACHE_HOME/genlab/audio``, else ``~/.cache/genlab/audio``."""
    if os.environ.get("GENLAB_CACHE_DIR"):
        return Path(os.environ["GENLAB_CACHE_DIR"]) / "audio"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genlab" / "audio"


def cache_key(path: str | Path, stream: int, sample_rate_hz: int, channels: int) -> str:
    """Hex key of a decoded stream: absolute path + mtime + size + stream + rate + channels."""
    p = Path(path).resolve()
    st = p.stat()
    ident = f"{p}|{st.st_mtime_ns}|{st.st_size}|{stream}|{sample_rate_hz}|{channels}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.save(f, array, allow_pickle=False)


def load_stream(path: str | Path, stream: str | int = 0, sample_rate_hz: int = SAMPLE_RATE_HZ, channels: int = 2,
                cache_dir: str | Path | None = None, mmap: bool = False) -> np.ndarray:
    """`decode_stream` of the whole stream, through the on-disk cache when `cache_dir` is given.

    With ``mmap=True`` a cached stream is memory-mapped read-only, so random crops touch only the bytes they need.
    """
    k = stream_index(stream)
    if cache_dir is None:
        return decode_stream(path, k, sample_rate_hz, channels)
    target = Path(cache_dir) / f"{cache_key(_existing(path), k, sample_rate_hz, channels)}.npy"
    if not target.is_file():
        _save_npy_atomic(target, decode_stream(path, k, sample_rate_hz, channels))
    return np.load(target, mmap_mode="r" if mmap else None, allow_pickle=False)
