"""Audio I/O and the MUSDB18 source on tiny synthetic tracks (stems .stem.mp4 via ffmpeg, and HQ WAV folders)."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from genlab.audio import io as aio
from genlab.audio.musdb import MusdbSource, SegmentSampler, musdb_root, validation_track_names
from genlab.errors import GenlabError

SR = 44100
STEM_FREQS = {"mixture": 220.0, "drums": 440.0, "bass": 880.0, "other": 1760.0, "vocals": 3520.0}
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg); stem decoding untested")


def sine(freq: float, seconds: float = 0.5, sr: int = SR, channels: int = 2, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t))[None], channels, 0).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x[0]))
    return float(np.argmax(spec) * sr / x.shape[-1])


def make_stem_mp4(path: Path, seconds: float = 0.5) -> Path:
    """A 5-stream AAC .stem.mp4 whose stream K is a sine at a frequency identifying it."""
    inputs = []
    for stem, f in STEM_FREQS.items():
        wav = path.parent / f"_{stem}.wav"
        aio.write_wav(wav, sine(f, seconds), SR)
        inputs += ["-i", str(wav)]
    maps = [arg for k in range(len(STEM_FREQS)) for arg in ("-map", f"{k}:a")]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *maps, "-c:a", "aac", "-b:a", "128k", str(path)]
    subprocess.run(cmd, check=True)
    return path


def make_hq_track(folder: Path, seconds: float = 0.5, silent: tuple[str, ...] = ()) -> Path:
    for stem, f in STEM_FREQS.items():
        aio.write_wav(folder / f"{stem}.wav", sine(f, seconds) * (0.0 if stem in silent else 1.0), SR, "FLOAT")
    return folder


@pytest.fixture(scope="module")
def stem_file(tmp_path_factory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (apt-get install ffmpeg)")
    return make_stem_mp4(tmp_path_factory.mktemp("stems") / "Tiny - Track.stem.mp4")


@needs_ffmpeg
def test_decode_maps_each_stream_to_its_stem(stem_file):
    for stem, f in STEM_FREQS.items():
        x = aio.decode_stream(stem_file, stem)
        assert x.dtype == np.float32 and x.shape[0] == 2
        assert abs(x.shape[1] - 0.5 * SR) < 2048  # AAC priming/padding trimmed to about the original length
        assert abs(peak_hz(x) - f) < 10.0, stem


@needs_ffmpeg
def test_decode_resamples_and_downmixes_with_a_warning(stem_file):
    with pytest.warns(aio.AudioWarning) as record:
        x = aio.decode_stream(stem_file, "bass", sample_rate_hz=22050, channels=1)
    messages = " | ".join(str(w.message) for w in record)
    assert "44100 Hz → 22050 Hz" in messages and "mixed to 1" in messages
    assert x.shape[0] == 1 and abs(x.shape[1] - 0.25 * SR) < 1024
    assert abs(peak_hz(x, 22050) - 880.0) < 10.0


@needs_ffmpeg
def test_cache_hit_skips_ffmpeg_and_file_change_misses(stem_file, tmp_path, monkeypatch):
    first = aio.load_stream(stem_file, "vocals", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(aio, "decode_stream", boom)
    again = aio.load_stream(stem_file, "vocals", cache_dir=tmp_path, mmap=True)
    np.testing.assert_array_equal(first, again)
    other_key = aio.cache_key(stem_file, 3, SR, 2)
    assert other_key != aio.cache_key(stem_file, 4, SR, 2)


@needs_ffmpeg
def test_missing_stream_and_unreadable_file(stem_file, tmp_path):
    with pytest.raises(GenlabError, match="5 audio stream"):
        aio.decode_stream(stem_file, 7)
    bad = tmp_path / "broken.stem.mp4"
    bad.write_bytes(b"not an mp4 at all" * 10)
    with pytest.raises(GenlabError, match="broken.stem.mp4"):
        aio.decode_stream(bad, 0)


def test_missing_file_and_missing_ffmpeg(tmp_path, monkeypatch):
    with pytest.raises(GenlabError, match="not found"):
        aio.decode_stream(tmp_path / "nope.stem.mp4", "vocals")
    f = tmp_path / "x.stem.mp4"
    f.write_bytes(b"\0" * 16)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(GenlabError, match="apt-get install ffmpeg"):
        aio.decode_stream(f, "vocals")


def test_unknown_stem_name():
    with pytest.raises(GenlabError, match="unknown stem 'voice'"):
        aio.stream_index("voice")


def test_wav_roundtrip_rate_and_channels(tmp_path):
    x = sine(440.0, 0.25, 22050, channels=1)
    p = aio.write_wav(tmp_path / "a.wav", x, 22050, "FLOAT")
    assert not list(tmp_path.glob(".*"))  # atomic write left no temp file
    with pytest.raises(GenlabError, match="22050 Hz; expected 44100"):
        aio.read_wav(p, 44100, strict_rate=True)
    with pytest.warns(aio.AudioWarning, match="resampling 22050"):
        y = aio.read_wav(p, 44100, channels=2)
    assert y.shape == (2, 2 * x.shape[1]) and abs(peak_hz(y) - 440.0) < 5
    np.testing.assert_allclose(aio.read_wav(p, None, None), x, atol=1e-7)
    assert aio.read_wav(p, None, 2, start_s=0.1, duration_s=0.05).shape == (2, round(0.05 * 22050))


def test_unreadable_wav_and_bad_channels(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(GenlabError, match="bad.wav"):
        aio.read_wav(bad)
    with pytest.raises(GenlabError, match="3 channels"):
        aio.to_channels(np.zeros((3, 10), np.float32), 2)


def test_silence_is_flagged_not_fatal():
    assert aio.rms_dbfs(np.zeros((2, 100))) == float("-inf")
    assert abs(aio.rms_dbfs(sine(100.0, 1.0, 1000, amp=1.0)) + 3.01) < 0.05
    with pytest.warns(aio.AudioWarning, match="silent"):
        assert aio.warn_if_silent(np.full((2, 100), 1e-5, np.float32), "vocals of 'x'")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not aio.warn_if_silent(sine(100.0, 0.1), "drums")


def test_hq_layout_tracks_split_and_load(tmp_path):
    for name in ["Actions - One Minute Smile", "B - Two", "C - Three"]:
        make_hq_track(tmp_path / "train" / name)
    make_hq_track(tmp_path / "test" / "D - Four", silent=("vocals",))
    src = MusdbSource(tmp_path)
    assert [t.name for t in src.tracks("train")] == ["Actions - One Minute Smile", "B - Two", "C - Three"]
    assert [t.name for t in src.tracks("train", "valid")] == ["Actions - One Minute Smile"]
    assert len(src.tracks("train", "train")) == 2
    t = src.track("D - Four")
    assert t.subset == "test" and t.is_wav
    assert abs(peak_hz(src.load(t, "bass")) - 880.0) < 5
    assert aio.is_silent(src.load(t, "vocals"))
    assert src.num_samples(t) == SR // 2
    with pytest.raises(GenlabError, match="split 'valid' on subset 'test'"):
        src.tracks("test", "valid")
    with pytest.raises(GenlabError, match="'E' not found"):
        src.track("E")


@needs_ffmpeg
def test_stems_layout_through_source(stem_file, tmp_path):
    (tmp_path / "test").mkdir()
    shutil.copy(stem_file, tmp_path / "test" / stem_file.name)
    src = MusdbSource(tmp_path, cache_dir=tmp_path / "cache")
    (t,) = src.tracks("test")
    assert t.name == "Tiny - Track" and not t.is_wav
    assert abs(peak_hz(src.load(t, "other")) - 1760.0) < 10
    cached_crop = src.load(t, "drums", start_s=0.1, duration_s=0.1)
    assert cached_crop.shape == (2, 4410)
    seeked = MusdbSource(tmp_path).load(t, "drums", start_s=0.1, duration_s=0.1)  # no cache: ffmpeg seeks
    assert abs(seeked.shape[1] - 4410) <= 1 and abs(peak_hz(seeked) - 440.0) < 15
    sampler = SegmentSampler(src, [t], ["vocals", "bass"], 0.05, length=4, seed=1)
    crop = sampler[2]
    assert crop.shape == (2, 2, 2205) and abs(peak_hz(crop[1]) - 880.0) < 25


def test_segment_sampler_is_seeded_and_skips_silence(tmp_path):
    make_hq_track(tmp_path / "train" / "A - One", seconds=0.6)
    quiet = make_hq_track(tmp_path / "train" / "B - Quiet", seconds=0.6, silent=("vocals",))
    src = MusdbSource(tmp_path)
    tracks = src.tracks("train")
    s1 = SegmentSampler(src, tracks, ["vocals", "drums"], 0.1, length=8, seed=3)
    s2 = SegmentSampler(src, tracks, ["vocals", "drums"], 0.1, length=8, seed=3)
    assert s1[5].shape == (2, 2, 4410)
    np.testing.assert_array_equal(s1[5], s2[5])
    assert not np.array_equal(s1[0], s1[1])
    loud = SegmentSampler(src, tracks, ["vocals"], 0.1, length=8, seed=0, min_rms_dbfs=-40.0, max_tries=50)
    assert all(not aio.is_silent(loud[i][0], -40.0) for i in range(8))
    assert quiet.is_dir()


def test_data_dir_convention_and_validation_names(tmp_path, monkeypatch):
    monkeypatch.delenv("GENLAB_DATA_DIR", raising=False)
    with pytest.raises(GenlabError, match="GENLAB_DATA_DIR"):
        musdb_root()
    (tmp_path / "musdb" / "MUSDB18-7").mkdir(parents=True)
    monkeypatch.setenv("GENLAB_DATA_DIR", str(tmp_path))
    assert musdb_root() == tmp_path / "musdb" / "MUSDB18-7"
    with pytest.raises(GenlabError, match="MUSDB18 folder not found"):
        musdb_root(tmp_path, "MUSDB18-HQ")
    names = validation_track_names()
    assert len(names) == 14 and "Actions - One Minute Smile" in names
