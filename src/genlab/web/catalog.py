"""Which snapshots the web UI may load: pretrained names from the manifest and run directories / snapshot files
under the runs directory, nothing else; plus a small LRU cache of loaded generators.

A snapshot id is `pretrained:<name>` or a relative path inside the runs directory (a run directory or a
`.safetensors` file). Ids that leave the runs directory (`..`, absolute paths, symlinks pointing outside) or name
anything but a `.safetensors` snapshot are refused with a one-line `GenlabError`; loading goes through
`genlab.api.load` (safetensors + JSON only, never pickle).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from genlab import api
from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_header
from genlab.errors import GenlabError
from genlab.models.registry import get_family

PRETRAINED = "pretrained:"
AUDIO_CODECS = ("musdb-spectrogram", "musdb-waveform")
MAX_LISTED = 200  # snapshots listed from the runs directory
MAX_DEPTH = 4  # folder levels searched below the runs directory


def snapshot_kind(header: dict[str, Any]) -> str:
    """'audio' (MUSDB codecs), 'channels' (binary facies images), 'image', or 'other'."""
    codec = header.get("codec") or {}
    kind = codec.get("kind", "image")
    if kind in AUDIO_CODECS:
        return "audio"
    if kind == "image":
        return "channels" if codec.get("levels") == 2 else "image"
    return "other"


def _class_names(header: dict[str, Any], num_classes: int) -> list[str]:
    from genlab.data.sources.mnist import FASHION_MNIST, MNIST

    data = (header.get("config") or {}).get("data") or {}
    names = {s.name: list(s.class_names) for s in (MNIST, FASHION_MNIST)}.get(data.get("dataset", ""), [])
    if data.get("classes"):  # trained on a subset: label k is the k-th kept class
        names = [names[c] for c in data["classes"] if c < len(names)] if names else []
    return names if len(names) == num_classes else [str(k) for k in range(num_classes)]


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    path: Path
    header: dict[str, Any] = field(repr=False)

    @property
    def kind(self) -> str:
        return snapshot_kind(self.header)

    @property
    def num_classes(self) -> int:
        return int((self.header.get("kwargs") or {}).get("num_classes") or 0)

    def public(self) -> dict[str, Any]:
        """What the page needs to build its controls (no file system paths)."""
        family = self.header.get("family", "?")
        try:
            has_latent = bool(getattr(get_family(family), "has_latent", False))
        except GenlabError:
            has_latent = False
        kwargs = self.header.get("kwargs") or {}
        return {"id": self.id, "kind": self.kind, "family": family, "num_classes": self.num_classes,
                "class_names": _class_names(self.header, self.num_classes),
                "image_shape": kwargs.get("image_shape"), "has_latent": has_latent,
                "samplers": family == "diffusion", "step": self.header.get("step"),
                "source": "pretrained" if self.id.startswith(PRETRAINED) else "runs"}


class SnapshotCatalog:
    """Snapshots under `runs_dir` and in the pretrained manifest; `load` caches up to `cache_size` generators."""

    def __init__(self, runs_dir: str | os.PathLike[str] = "runs", cache_size: int = 4, device: str = "auto"):
        self.runs_dir = Path(runs_dir)
        self.device = device
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], api.Generator] = OrderedDict()
        self._headers: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()

    # --- resolving ---------------------------------------------------------------------------------------------
    def resolve(self, snapshot_id: str) -> SnapshotInfo:
        """The snapshot behind an id, checked to be a genlab .safetensors snapshot inside an allowed root."""
        if snapshot_id.startswith(PRETRAINED):
            name = snapshot_id[len(PRETRAINED):]
            if name not in pretrained.manifest():
                raise GenlabError(f"snapshot '{snapshot_id}': no pretrained snapshot of that name")
            path = pretrained.resolve(name)  # verifies the sha256
        else:
            path = self._inside_runs(snapshot_id)
        if path.suffix != ".safetensors":
            raise GenlabError(f"snapshot '{snapshot_id}': only .safetensors snapshots are loaded")
        return SnapshotInfo(snapshot_id, path, self._header(path))

    def _inside_runs(self, snapshot_id: str) -> Path:
        rel = PurePosixPath(snapshot_id)
        root = self.runs_dir.resolve()
        outside = GenlabError(f"snapshot '{snapshot_id}': not a snapshot inside the runs directory "
                              f"({self.runs_dir}) nor a pretrained name")
        if rel.is_absolute() or ".." in rel.parts or "\\" in snapshot_id or "\x00" in snapshot_id:
            raise outside
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.exists():
            raise outside
        if path.is_dir():
            path = api.find_snapshot(path).resolve()
            if not path.is_relative_to(root):
                raise outside
        return path

    def _header(self, path: Path) -> dict[str, Any]:
        key = (str(path), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._headers:
                return self._headers[key]
        header = read_header(path)
        with self._lock:
            self._headers[key] = header
        return header

    # --- listing -----------------------------------------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        """Public descriptions of every loadable snapshot (pretrained first, then the runs directory by id)."""
        out = []
        for name, entry in sorted(pretrained.manifest().items()):
            path = pretrained.MANIFEST.parent / entry.get("file", "")
            if path.suffix == ".safetensors" and path.is_file():
                out.extend(self._describe(PRETRAINED + name, path))
        for sid, path in self._scan_runs():
            out.extend(self._describe(sid, path))
        return out

    def _describe(self, sid: str, path: Path) -> list[dict[str, Any]]:
        try:
            return [SnapshotInfo(sid, path, self._header(path)).public()]
        except (GenlabError, OSError):  # not a genlab snapshot (or vanished): not listed
            return []

    def _scan_runs(self) -> list[tuple[str, Path]]:
        """(id, snapshot file) of run directories and loose .safetensors snapshot files (training states skipped)."""
        root = self.runs_dir.resolve()
        if not root.is_dir():
            return []
        found: list[tuple[str, Path]] = []
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            depth = len(here.relative_to(root).parts)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
            rel = here.relative_to(root).as_posix()
            if here != root and ("snapshot.safetensors" in files or (here / "snapshots").is_dir()):
                try:
                    found.append((rel, api.find_snapshot(here)))
                except GenlabError:
                    pass
                dirs[:] = []  # a run directory: its epoch snapshots and states are not listed separately
                continue
            for f in sorted(files):
                if f.endswith(".safetensors") and not f.startswith("state-"):
                    found.append((f if here == root else f"{rel}/{f}", here / f))
            if len(found) >= MAX_LISTED:
                break
        return sorted(found[:MAX_LISTED])

    # --- loading -----------------------------------------------------------------------------------------------
    def load(self, info: SnapshotInfo) -> api.Generator:
        """The generator of a resolved snapshot, from the LRU cache when the file is unchanged."""
        key = (str(info.path), info.path.stat().st_mtime_ns)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        gen = api.load(info.path, device=self.device)
        with self._lock:
            self._cache[key] = gen
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return gen
