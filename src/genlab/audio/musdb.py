"""MUSDB18 as a data source, following the `musdb` package's on-disk layout.

Two layouts (Rafii et al. 2017, sigsep.github.io/datasets/musdb.html):

- stems: ``<root>/{train,test}/<Artist - Title>.stem.mp4`` with audio streams 0 mixture, 1 drums, 2 bass, 3 other,
  4 vocals (MUSDB18, and the 7-second preview set "MUSDB18-7");
- HQ:    ``<root>/{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav`` (MUSDB18-HQ).

The official validation split (14 of the 100 full training tracks) is read from the installed `musdb` package's
``configs/mus.yaml`` (``validation_tracks``), with the same list as a fallback when the package is absent.

Where the data lives: ``<data_dir>/musdb/MUSDB18-7`` with `data_dir` from a flag or ``GENLAB_DATA_DIR``. Users with
internet get the previews with ``download_previews(root)``, which calls ``musdb.DB(root=root, download=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genlab.audio.io import SAMPLE_RATE_HZ, STEM_STREAMS, decode_stream, is_silent, load_stream, read_wav, wav_info
from genlab.errors import GenlabError

SUBSETS = ("train", "test")
STEMS = tuple(STEM_STREAMS)  # mixture, drums, bass, other, vocals
TARGETS = ("drums", "bass", "other", "vocals")
PREVIEW_DIRNAME = "MUSDB18-7"

# musdb 0.4 configs/mus.yaml `validation_tracks` (used only if the package is not installed).
_FALLBACK_VALIDATION = (
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims", "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave", "Triviul - Angelsaint", "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants", "Leaf - Summerghost", "Skelpolu - Human Mistakes", "Young Griffo - Pennies",
    "ANiMAL - Rockshow", "James May - On The Line", "Meaxic - Take A Step", "Traffic Experiment - Sirens",
)


def validation_track_names() -> tuple[str, ...]:
    """The official MUSDB18 validation track names (from the installed musdb package when available)."""
    try:
        import musdb
        import yaml

        with open(Path(musdb.__path__[0]) / "configs" / "mus.yaml", encoding="utf-8") as f:
            return tuple(yaml.safe_load(f)["validation_tracks"])
    except (ImportError, OSError, KeyError, TypeError):
        return _FALLBACK_VALIDATION


def musdb_root(data_dir: str | Path | None = None, variant: str = PREVIEW_DIRNAME) -> Path:
    """``<data_dir>/musdb/<variant>``; `data_dir` defaults to ``$GENLAB_DATA_DIR``. Raises if it does not exist."""
    data_dir = data_dir or os.environ.get("GENLAB_DATA_DIR")
    if not data_dir:
        raise GenlabError("no data directory: pass --data-dir or set GENLAB_DATA_DIR (MUSDB18 is read from "
                          f"<data_dir>/musdb/{variant})")
    root = Path(data_dir) / "musdb" / variant
    if not root.is_dir():
        raise GenlabError(f"MUSDB18 folder not found: '{root}' (expected {{train,test}}/<track>.stem.mp4; "
                          "with internet: genlab.audio.musdb.download_previews(root))")
    return root


def download_previews(root: str | Path) -> Path:  # pragma: no cover - needs the network
    """Fetch the official 7-second previews (MUSDB18-7, ~140 MB) into `root` with ``musdb.DB(download=True)``."""
    import musdb

    musdb.DB(root=str(root), download=True)
    return Path(root)


@dataclass(frozen=True)
class MusdbTrack:
    """One track: its name, subset and where its audio is (a `.stem.mp4` file or an HQ folder of WAVs)."""

    name: str
    subset: str
    path: Path
    is_wav: bool

    def stem_path(self, stem: str) -> Path:
        """The file holding `stem` (the `.stem.mp4` itself for the stems layout)."""
        return self.path / f"{stem}.wav" if self.is_wav else self.path


class MusdbSource:
    """Tracks of a MUSDB18 root and their stems as float32 ``(C, S)`` arrays at 44.1 kHz.

    `cache_dir` caches decoded `.stem.mp4` streams as `.npy` (see `genlab.audio.io.load_stream`); WAV stems are read
    directly (they are already PCM).
    """

    def __init__(self, root: str | Path, cache_dir: str | Path | None = None, sample_rate_hz: int = SAMPLE_RATE_HZ,
                 channels: int = 2):
        self.root = Path(root)
        if not self.root.is_dir():
            raise GenlabError(f"MUSDB18 root not found: '{self.root}'")
        self.cache_dir, self.sample_rate_hz, self.channels = cache_dir, int(sample_rate_hz), int(channels)

    def tracks(self, subset: str = "train", split: str | None = None) -> list[MusdbTrack]:
        """Tracks of a subset sorted by name; for 'train', split='train'|'valid' applies the official split."""
        if subset not in SUBSETS:
            raise GenlabError(f"unknown MUSDB subset '{subset}'; expected one of {', '.join(SUBSETS)}")
        folder = self.root / subset
        if not folder.is_dir():
            raise GenlabError(f"MUSDB subset folder not found: '{folder}'")
        found = sorted(self._scan(folder, subset), key=lambda t: t.name)
        return self._split(found, subset, split)

    @staticmethod
    def _scan(folder: Path, subset: str) -> list[MusdbTrack]:
        out = []
        for p in folder.iterdir():
            if p.is_file() and p.name.endswith(".stem.mp4"):
                out.append(MusdbTrack(p.name[: -len(".stem.mp4")], subset, p, is_wav=False))
            elif p.is_dir() and (p / "mixture.wav").is_file():
                out.append(MusdbTrack(p.name, subset, p, is_wav=True))
        return out

    @staticmethod
    def _split(tracks: list[MusdbTrack], subset: str, split: str | None) -> list[MusdbTrack]:
        if split is None:
            return tracks
        if subset != "train" or split not in ("train", "valid"):
            raise GenlabError(f"split '{split}' on subset '{subset}': splits are 'train'/'valid' of subset 'train'")
        valid = set(validation_track_names())
        return [t for t in tracks if (t.name in valid) == (split == "valid")]

    def track(self, name: str, subset: str | None = None) -> MusdbTrack:
        """Find a track by exact name (in `subset`, or in both subsets)."""
        for s in [subset] if subset else SUBSETS:
            for t in self.tracks(s) if (self.root / s).is_dir() else []:
                if t.name == name:
                    return t
        raise GenlabError(f"track '{name}' not found under '{self.root}'")

    def load(self, track: MusdbTrack, stem: str, start_s: float = 0.0, duration_s: float | None = None,
             mmap: bool = False) -> np.ndarray:
        """Audio of one stem ('mixture', 'drums', 'bass', 'other', 'vocals') as float32 ``(C, S)``."""
        if stem not in STEM_STREAMS:
            raise GenlabError(f"unknown stem '{stem}'; expected one of {', '.join(STEMS)}")
        if track.is_wav:
            return read_wav(track.stem_path(stem), self.sample_rate_hz, self.channels, start_s, duration_s)
        if self.cache_dir is None and (start_s > 0 or duration_s is not None):  # let ffmpeg seek; no full decode
            return decode_stream(track.path, stem, self.sample_rate_hz, self.channels, start_s, duration_s)
        audio = load_stream(track.path, stem, self.sample_rate_hz, self.channels, self.cache_dir, mmap=mmap)
        a = round(start_s * self.sample_rate_hz)
        b = None if duration_s is None else a + round(duration_s * self.sample_rate_hz)
        return audio[:, a:b]

    def num_samples(self, track: MusdbTrack) -> int:
        """Length of a track in samples at the source rate (decodes the mixture for stem files, cached)."""
        if track.is_wav:
            rate, _, frames = wav_info(track.stem_path("mixture"))
            return int(frames * self.sample_rate_hz // rate)
        return self.load(track, "mixture", mmap=True).shape[-1]


class SegmentSampler:
    """Seeded random crops of `segment_s` seconds of some stems, for training (a map-style dataset).

    Item ``i`` depends only on (seed, i): a track is drawn uniformly, then an offset uniformly in the track. With
    `min_rms_dbfs`, crops whose first stem is quieter are redrawn (up to `max_tries`), so a vocals model does not
    train mostly on silence. Returns float32 ``(len(stems), C, segment_samples)``. For `.stem.mp4` tracks give the
    source a `cache_dir`: crops are then slices of memory-mapped decoded streams instead of an ffmpeg call each.
    """

    def __init__(self, source: MusdbSource, tracks: Sequence[MusdbTrack], stems: Sequence[str], segment_s: float,
                 length: int, seed: int = 0, min_rms_dbfs: float | None = None, max_tries: int = 10):
        if not tracks:
            raise GenlabError("SegmentSampler: no tracks to sample from")
        self.source, self.tracks, self.stems = source, list(tracks), list(stems)
        self.segment = round(segment_s * source.sample_rate_hz)
        self.length, self.seed, self.min_rms_dbfs, self.max_tries = int(length), int(seed), min_rms_dbfs, max_tries
        self._lengths = [source.num_samples(t) for t in self.tracks]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(index)])
        for _ in range(self.max_tries):
            crop = self._draw(rng)
            if self.min_rms_dbfs is None or not is_silent(crop[0], self.min_rms_dbfs):
                break
        return crop

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        k = int(rng.integers(len(self.tracks)))
        start = int(rng.integers(max(self._lengths[k] - self.segment, 0) + 1))
        out = np.zeros((len(self.stems), self.source.channels, self.segment), dtype=np.float32)
        for j, stem in enumerate(self.stems):
            audio = self._stem_window(self.tracks[k], stem, start)
            out[j, :, : audio.shape[-1]] = audio
        return out

    def _stem_window(self, track: MusdbTrack, stem: str, start: int) -> np.ndarray:
        sr = self.source.sample_rate_hz
        return self.source.load(track, stem, start / sr, self.segment / sr, mmap=True)[:, : self.segment]
