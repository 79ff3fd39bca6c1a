"""Bad audio inputs give one-line GenlabErrors naming the file: NaN/Inf samples, 0-frame, too-short and truncated
WAVs, and a .stem.mp4 cut short (ffmpeg decodes what is there, exits 0 and logs "partial file")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genlab.audio import io as aio
from genlab.audio.transforms import Stft
from genlab.errors import GenlabError

SR = 44100
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not installed")


def noise(num_samples: int, channels: int = 1) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal((num_samples, channels)) * 0.1).astype(np.float32)


def one_line(err: pytest.ExceptionInfo, *words: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples_are_refused(tmp_path, bad):
    x = noise(SR)
    x[123, 0] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(GenlabError) as err:
        aio.read_wav(path, SR, None)
    one_line(err, "bad.wav", "NaN/Inf", "sample 123")


def test_zero_frame_wav_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), SR)
    with pytest.raises(GenlabError) as err:
        aio.read_wav(path, SR, None)
    one_line(err, "empty.wav", "0 frames")


def test_wav_shorter_than_one_stft_frame_is_refused(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, noise(100), SR)
    with pytest.raises(GenlabError) as err:
        aio.read_wav(path, SR, None, min_samples=aio.MIN_INPUT_SAMPLES)
    one_line(err, "blip.wav", "only 100 samples", str(aio.MIN_INPUT_SAMPLES))
    assert aio.read_wav(path, SR, None).shape == (1, 100)  # the default asks for one sample only


def test_stft_of_a_too_short_signal_is_a_genlab_error():
    with pytest.raises(GenlabError) as err:
        Stft(1024, 256)(torch.zeros(1, 1, 100))
    one_line(err, "100 samples", "n_fft=1024")
    assert Stft(1024, 256)(torch.zeros(1, 1, 513)).shape[-2:] == (513, 3)


def test_truncated_wav_is_refused_not_cut_short(tmp_path):
    whole = tmp_path / "whole.wav"
    sf.write(whole, noise(SR), SR, subtype="FLOAT")
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert aio.read_wav(whole, SR, None).shape == (1, SR)
    with pytest.raises(GenlabError) as err:
        aio.read_wav(cut, SR, None)
    one_line(err, "cut.wav", "truncated", "176400 bytes")
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(GenlabError) as err:
        aio.read_wav(header_only, SR, None)
    one_line(err, "header.wav")


def make_stem(path: Path, seconds: float = 3.0) -> Path:
    """Two AAC streams with the index at the front (+faststart, as MUSDB ships), so a cut copy still opens."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=440:d={seconds}:r={SR}",
           "-f", "lavfi", "-i", f"sine=f=660:d={seconds}:r={SR}", "-map", "0", "-map", "1", "-c:a", "aac",
           "-ac", "2", "-movflags", "+faststart", str(path)]
    subprocess.run(cmd, check=True)
    return path


@needs_ffmpeg
def test_truncated_stem_mp4_is_refused(tmp_path):
    whole = make_stem(tmp_path / "whole.stem.mp4")
    assert aio.decode_stream(whole, 1).shape[1] >= 3 * SR
    cut = tmp_path / "cut.stem.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pytest.raises(GenlabError) as err:
        aio.decode_stream(cut, 1)
    one_line(err, "cut.stem.mp4", "truncated")


@needs_ffmpeg
def test_decoded_length_is_checked_against_the_container_duration(tmp_path):
    whole = make_stem(tmp_path / "whole.stem.mp4", seconds=1.0)
    assert aio.decode_stream(whole, 0, start_s=0.5, duration_s=2.0).shape[1] >= int(0.45 * SR)  # window past end
    with pytest.raises(GenlabError) as err:  # what ffmpeg returned is short of what the container declares
        aio._check_decoded_length(whole, 0, got_s=0.6, stream_s=1.0, start_s=0.0, duration_s=None)
    one_line(err, "whole.stem.mp4", "truncated", "1.00 s")
    aio._check_decoded_length(whole, 0, got_s=0.6, stream_s=1.0, start_s=0.0, duration_s=0.6)
