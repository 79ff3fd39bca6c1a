"""The demo video script's own parts, without a running platform: captioned frames and the ffmpeg encoding (a real
MP4, checked with ffprobe), and its refusals. The full recording needs the platform (docs/demo.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

GYM = Path(__file__).resolve().parents[1]
SCRIPT = GYM / "scripts" / "demo_video.py"
sys.path.insert(0, str(SCRIPT.parent))
import demo_video  # gym/scripts/demo_video.py


@pytest.mark.skipif(not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="needs ffmpeg (Debian)")
def test_frames_are_captioned_and_encoded_to_h264(tmp_path):
    film = demo_video.Film(tmp_path)
    film.card("Title", "line one\nline two", "A card with a caption", 1.5, mono=False)
    film.add(Image.new("RGB", (1600, 900), "#ff0000"), "A big red screenshot, scaled to fit", 2.0)
    first = Image.open(film.frames[0][0])
    assert first.size == (demo_video.W, demo_video.H)
    bar = first.crop((0, demo_video.H - demo_video.BAR, demo_video.W, demo_video.H))
    assert len(bar.getcolors(maxcolors=100000)) > 2  # the caption text is drawn on the bar
    second = Image.open(film.frames[1][0]).convert("RGB")
    assert second.getpixel((demo_video.W // 2, 100)) == (255, 0, 0)
    out = tmp_path / "demo.mp4"
    film.encode(out)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                       str(out)], capture_output=True, text=True, check=True).stdout)
    video = probe["streams"][0]
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (1280, 720)
    assert video["pix_fmt"] == "yuv420p"
    assert abs(float(probe["format"]["duration"]) - 3.5) < 0.3


def test_refuses_a_remote_gateway_and_a_missing_platform():
    remote = subprocess.run([sys.executable, SCRIPT, "--gateway", "http://example.com"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert remote.returncode == 2 and "loopback only" in remote.stderr
    absent = subprocess.run([sys.executable, SCRIPT, "--gateway", "http://127.0.0.1:9"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert absent.returncode == 2 and "no platform at http://127.0.0.1:9" in absent.stderr
    assert len(absent.stderr.strip().splitlines()) == 1
